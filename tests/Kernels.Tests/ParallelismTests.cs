namespace Mlx.Kernels.Tests;

/// <summary>
/// The worker pool behind Parallelism: every index once, gangs all at once, errors and nesting. Run alone: these set
/// the global thread count, and a job posted while another test's job holds the pool runs on the calling thread
/// (ForBlocksTakesBlocksFromASlowThreadsShare failed that way once, under the full suite).
/// </summary>
[Collection("Parallelism.MaxThreads")]
public sealed class ParallelismTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(17)]
    public void RunCoversEveryIndexOnce(int n)
    {
        for (int round = 0; round < 50; round++)
        {
            var hits = new int[n];
            Parallelism.Run(n, i => Interlocked.Increment(ref hits[i]));
            Assert.All(hits, h => Assert.Equal(1, h));
        }
    }

    [Fact]
    public void ForCoversTheRangeInChunks()
    {
        const long count = 1_000_003;
        var hits = new byte[count];
        Parallelism.For(count, 1 << 10, (s, e) =>
        {
            for (long i = s; i < e; i++)
            {
                hits[i]++;
            }
        });
        Assert.All(hits, h => Assert.Equal(1, h));
    }

    [Theory]
    [InlineData(0, 2)]
    [InlineData(1, 2)]
    [InlineData(5, 2)]
    [InlineData(1001, 2)]
    [InlineData(1001, 3)]
    public void ForBlocksRunsEveryBlockOnce(long count, int threads)
    {
        int saved = Parallelism.MaxThreads;
        Parallelism.MaxThreads = threads;
        try
        {
            for (int round = 0; round < 20; round++)
            {
                var hits = new int[count];
                Parallelism.ForBlocks(count, Parallelism.ElementwiseThreshold, b => Interlocked.Increment(ref hits[b]));
                Assert.All(hits, h => Assert.Equal(1, h));
            }
        }
        finally
        {
            Parallelism.MaxThreads = saved;
        }
    }

    [Fact]
    public void ForBlocksTakesBlocksFromASlowThreadsShare()
    {
        // The thread that runs block 0 (the start of the first share) is held up; the other thread finishes its own
        // share, then takes the rest of the first: a static split would leave all 50 of share 0 to the slow thread.
        const int count = 100;
        var owner = new int[count];
        int saved = Parallelism.MaxThreads;
        Parallelism.MaxThreads = 2;
        try
        {
            Parallelism.ForBlocks(count, Parallelism.ElementwiseThreshold, b =>
            {
                owner[b] = Environment.CurrentManagedThreadId;
                if (b == 0)
                {
                    Thread.Sleep(300);
                }
            });
        }
        finally
        {
            Parallelism.MaxThreads = saved;
        }
        int slow = owner[0];
        Assert.True(owner.Count(t => t == slow) < count / 2, $"the held-up thread ran {owner.Count(t => t == slow)} of {count} blocks");
        Assert.Contains(owner.Skip(1).Take(count / 2 - 1), t => t != slow);
    }

    [Fact]
    public async Task GangMembersRunAtOnce()
    {
        // Each member waits until all have arrived: only concurrent members get through (with one thread this hangs).
        int n = Math.Max(2, Parallelism.MaxThreads);
        for (int round = 0; round < 20; round++)
        {
            int arrived = 0;
            var task = Task.Run(() => Parallelism.RunGang(n, _ =>
            {
                Interlocked.Increment(ref arrived);
                var spin = new SpinWait();
                while (Volatile.Read(ref arrived) < n)
                {
                    spin.SpinOnce();
                }
            }));
            await task.WaitAsync(TimeSpan.FromSeconds(30)); // a TimeoutException if the members did not run concurrently
        }
    }

    [Fact]
    public async Task AGangAsAPoolsFirstJobRuns()
    {
        // Regression: a worker read the job counter after it started, by then including the first job, and waited
        // for the next one, so a gang posted first (a large product sharing its packed B) never finished.
        for (int round = 0; round < 20; round++)
        {
            var pool = new WorkerPool();
            int arrived = 0;
            var task = Task.Run(() => pool.Run(2, _ =>
            {
                Interlocked.Increment(ref arrived);
                while (Volatile.Read(ref arrived) < 2)
                {
                    Thread.SpinWait(10);
                }
            }, gang: true));
            await task.WaitAsync(TimeSpan.FromSeconds(30)); // a TimeoutException if the new worker missed the job
            Assert.Equal(1, pool.Workers);
        }
    }

    [Fact]
    public async Task WorkersThatSleptWakeForTheNextJob()
    {
        int saved = Parallelism.SpinMicroseconds;
        try
        {
            Parallelism.SpinMicroseconds = 0;
            for (int round = 0; round < 20; round++)
            {
                Thread.Sleep(1); // the workers are asleep by now
                int arrived = 0;
                var task = Task.Run(() => Parallelism.RunGang(2, _ =>
                {
                    Interlocked.Increment(ref arrived);
                    while (Volatile.Read(ref arrived) < 2)
                    {
                        Thread.SpinWait(10);
                    }
                }));
                await task.WaitAsync(TimeSpan.FromSeconds(30)); // a TimeoutException if a sleeping worker was not woken
            }
        }
        finally
        {
            Parallelism.SpinMicroseconds = saved;
        }
    }

    [Fact]
    public void AnExceptionInABodyReachesTheCaller()
    {
        var e = Assert.Throws<InvalidOperationException>(() => Parallelism.Run(8, i =>
        {
            if (i == 5)
            {
                throw new InvalidOperationException("body 5");
            }
        }));
        Assert.Equal("body 5", e.Message);
        // The pool still works afterwards.
        int sum = 0;
        Parallelism.Run(4, i => Interlocked.Add(ref sum, i));
        Assert.Equal(6, sum);
    }

    [Fact]
    public void NestedAndConcurrentCallsComplete()
    {
        long total = 0;
        Parallel.For(0, 4, _ =>
        {
            Parallelism.Run(3, i => Parallelism.Run(5, j => Interlocked.Add(ref total, i * 10 + j)));
        });
        // Each of the 4 callers adds sum over i<3, j<5 of (10i + j) = 5*10*3 + 3*10 = 180.
        Assert.Equal(4 * 180, total);
    }
}
