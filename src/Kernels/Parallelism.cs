using System.Diagnostics;
using System.Runtime.ExceptionServices;

namespace Mlx.Kernels;

/// <summary>
/// Splits work across cores above a size threshold; below it, threads cost more than they save. The work runs on
/// the calling thread and on <see cref="MaxThreads"/> - 1 workers of our own that keep spinning for a while
/// (<see cref="SpinMicroseconds"/>) after each job before they sleep: a woken thread-pool thread starts tens to
/// hundreds of microseconds late (more in a VM), a large share of a millisecond-long op, which is why OpenMP runtimes
/// spin too.
/// </summary>
public static class Parallelism
{
    /// <summary>Elements of simple elementwise work below which a kernel stays on one thread.</summary>
    public const long ElementwiseThreshold = 1 << 16;

    public static int MaxThreads { get; set; } = Environment.ProcessorCount;

    /// <summary>How long an idle worker spins for the next job before it sleeps (MLX_SPIN_US; 0 sleeps at once).</summary>
    public static int SpinMicroseconds { get; set; } =
        int.TryParse(Environment.GetEnvironmentVariable("MLX_SPIN_US"), out int us) && us >= 0 ? us : 2000;

    /// <summary>Runs <paramref name="body"/>(start, end) over [0, count) in contiguous chunks.</summary>
    public static void For(long count, long workPerItem, Action<long, long> body)
    {
        long work = count * Math.Max(workPerItem, 1);
        int threads = (int)Math.Min(MaxThreads, Math.Max(1, work / ElementwiseThreshold));
        threads = (int)Math.Min(threads, Math.Max(count, 1));
        if (threads <= 1)
        {
            body(0, count);
            return;
        }
        long chunk = (count + threads - 1) / threads;
        Run(threads, t =>
        {
            long start = t * chunk;
            long end = Math.Min(count, start + chunk);
            if (start < end)
            {
                body(start, end);
            }
        });
    }

    /// <summary>
    /// Runs <paramref name="body"/>(b) once for each block b in [0, count) of a bandwidth-bound pass: each thread walks
    /// its own contiguous share of the blocks in order, and a thread done early takes blocks from the other shares.
    /// One long sequential stream per core keeps the hardware prefetchers ahead (same-process A/B runs of a 64 MB sum on
    /// an idle memory bus: 74 GB/s against 53 when the threads took alternate blocks); the taking keeps a worker that
    /// starts late (or a core slowed by other work) from holding up the end.
    /// </summary>
    public static void ForBlocks(long count, long workPerBlock, Action<long> body)
    {
        int threads = (int)Math.Min(Math.Min(MaxThreads, count), Math.Max(1, count * Math.Max(workPerBlock, 1) / ElementwiseThreshold));
        if (threads <= 1)
        {
            for (long b = 0; b < count; b++)
            {
                body(b);
            }
            return;
        }
        // Each share's next block, one cache line apart.
        const int Pad = 8;
        var next = new long[threads * Pad];
        for (int t = 0; t < threads; t++)
        {
            next[t * Pad] = t * count / threads - 1;
        }
        Run(threads, t =>
        {
            for (int k = 0; k < threads; k++)
            {
                int share = (t + k) % threads;
                long end = (share + 1) * count / threads, b;
                while ((b = Interlocked.Increment(ref next[share * Pad])) < end)
                {
                    body(b);
                }
            }
        });
    }

    /// <summary>
    /// Runs <paramref name="body"/>(i) for i in [0, n): the caller and the workers claim indices as they come free,
    /// so a worker that starts late takes fewer (or none). The bodies must not wait for each other.
    /// </summary>
    public static void Run(int n, Action<int> body) => WorkerPool.Shared.Run(n, body, gang: false);

    /// <summary>Like <see cref="Run"/>, but every index on its own thread, all at once: for bodies that synchronize.</summary>
    public static void RunGang(int n, Action<int> body) => WorkerPool.Shared.Run(n, body, gang: true);
}

/// <summary>
/// The caller plus worker threads of our own. One job at a time: a job posted while another runs, or from inside a
/// job's body, runs on the calling thread (a gang through Parallel.For, so that its members still run at once).
/// </summary>
internal sealed class WorkerPool
{
    public static readonly WorkerPool Shared = new();

    private sealed class Job(Action<int> body, int count, bool gang)
    {
        private int _next = gang ? 1 : 0; // a gang's index 0 belongs to the caller
        private int _done;
        private ExceptionDispatchInfo? _error;

        /// <summary>Each worker takes one index (and the caller index 0).</summary>
        public bool Gang => gang;

        public bool IsDone => Volatile.Read(ref _done) == count;

        public void RunIndex(int i)
        {
            try
            {
                body(i);
            }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref _error, ExceptionDispatchInfo.Capture(e), null);
            }
            Interlocked.Increment(ref _done);
        }

        /// <summary>Claims and runs indices until none are left (a gang member claims one).</summary>
        public void Work(bool one)
        {
            int i;
            while ((i = Interlocked.Increment(ref _next) - 1) < count)
            {
                RunIndex(i);
                if (one)
                {
                    return;
                }
            }
        }

        public void Rethrow() => _error?.Throw();
    }

    private readonly object _runLock = new();
    private readonly object _sleepLock = new();
    private Thread[] _workers = [];
    private Job? _job;
    private long _seq;
    private int _sleepers;

    // Workers and callers inside a job's body: their own parallel loops run inline.
    [ThreadStatic]
    private static bool t_busy;

    public int Workers => _workers.Length;

    public void Run(int n, Action<int> body, bool gang)
    {
        if (n <= 1)
        {
            if (n == 1)
            {
                body(0);
            }
            return;
        }
        if (t_busy || !Monitor.TryEnter(_runLock))
        {
            if (gang)
            {
                Parallel.For(0, n, new ParallelOptions { MaxDegreeOfParallelism = n }, body);
            }
            else
            {
                for (int i = 0; i < n; i++)
                {
                    body(i);
                }
            }
            return;
        }
        try
        {
            // A gang needs a thread per member; other jobs are claimed, so MaxThreads threads take any number of indices.
            EnsureWorkers(gang ? n - 1 : Math.Min(n, Math.Max(1, Parallelism.MaxThreads)) - 1);
            var job = new Job(body, n, gang);
            Volatile.Write(ref _job, job);
            Interlocked.Increment(ref _seq);
            if (Volatile.Read(ref _sleepers) > 0)
            {
                lock (_sleepLock)
                {
                    Monitor.PulseAll(_sleepLock);
                }
            }
            t_busy = true;
            try
            {
                if (gang)
                {
                    job.RunIndex(0);
                }
                else
                {
                    job.Work(one: false);
                }
            }
            finally
            {
                t_busy = false;
            }
            var spin = new SpinWait();
            while (!job.IsDone)
            {
                spin.SpinOnce(sleep1Threshold: -1);
            }
            Volatile.Write(ref _job, null);
            job.Rethrow();
        }
        finally
        {
            Monitor.Exit(_runLock);
        }
    }

    private void EnsureWorkers(int count)
    {
        if (_workers.Length >= count)
        {
            return;
        }
        var workers = new Thread[count];
        Array.Copy(_workers, workers, _workers.Length);
        // A new worker waits for the job after the current sequence number, read here, before the caller posts it:
        // read on the new thread, it could already include the job being posted, and a gang would wait forever.
        long seen = Volatile.Read(ref _seq);
        for (int i = _workers.Length; i < count; i++)
        {
            workers[i] = new Thread(() => WorkerLoop(seen)) { IsBackground = true, Name = $"Mlx worker {i + 1}" };
            workers[i].Start();
        }
        _workers = workers;
    }

    private void WorkerLoop(long seen)
    {
        t_busy = true;
        while (true)
        {
            long spinUntil = Stopwatch.GetTimestamp() + Parallelism.SpinMicroseconds * Stopwatch.Frequency / 1_000_000;
            int spins = 0;
            while (Volatile.Read(ref _seq) == seen)
            {
                if (Stopwatch.GetTimestamp() >= spinUntil)
                {
                    Sleep(seen);
                    break;
                }
                // Pause instructions, and now and then the core to another ready thread (a 2-core machine runs tests beside us).
                Thread.SpinWait(30);
                if (++spins % 64 == 0)
                {
                    Thread.Yield();
                }
            }
            seen = Volatile.Read(ref _seq);
            if (Volatile.Read(ref _job) is { } job)
            {
                job.Work(one: job.Gang);
            }
        }
    }

    private void Sleep(long seen)
    {
        lock (_sleepLock)
        {
            // The increment is a full fence: a caller either sees us counted and pulses, or we see its new job here.
            Interlocked.Increment(ref _sleepers);
            while (Volatile.Read(ref _seq) == seen)
            {
                Monitor.Wait(_sleepLock);
            }
            Interlocked.Decrement(ref _sleepers);
        }
    }
}
