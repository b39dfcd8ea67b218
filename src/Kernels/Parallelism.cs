namespace Mlx.Kernels;

/// <summary>Splits work across cores above a size threshold; below it, threads cost more than they save.</summary>
public static class Parallelism
{
    /// <summary>Elements of simple elementwise work below which a kernel stays on one thread.</summary>
    public const long ElementwiseThreshold = 1 << 16;

    public static int MaxThreads { get; set; } = Environment.ProcessorCount;

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
        System.Threading.Tasks.Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
        {
            long start = t * chunk;
            long end = Math.Min(count, start + chunk);
            if (start < end)
            {
                body(start, end);
            }
        });
    }
}
