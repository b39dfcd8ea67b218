using System.Runtime.InteropServices;

namespace Mlx;

/// <summary>
/// Memory holding array data, shared by views. Large blocks are 64-byte-aligned native memory handed back to the
/// allocator's cache by a finalizer when the last array using them is collected; blocks of up to
/// <see cref="Allocator.SmallBytes"/> bytes (scalars, tiny arrays) live in pinned managed arrays, which cost no
/// finalizer and are left to the GC (they are not counted in <see cref="MemoryInfo.ActiveBytes"/>).
/// </summary>
internal abstract unsafe class Buffer
{
    protected nint _pointer;

    protected Buffer(nint pointer, long bytes, long capacity)
    {
        _pointer = pointer;
        Bytes = bytes;
        Capacity = capacity;
    }

    /// <summary>Bytes requested by the array.</summary>
    public long Bytes { get; }

    /// <summary>Bytes actually reserved (the cache rounds sizes up).</summary>
    public long Capacity { get; }

    /// <summary>The host address of the data; a buffer computed on the GPU is copied to the host on first use.</summary>
    public nint Pointer => _pointer != 0 ? _pointer : MaterializeHost();

    public Span<T> AsSpan<T>() where T : unmanaged => new((void*)Pointer, checked((int)(Bytes / sizeof(T))));

    public T* Ptr<T>() where T : unmanaged => (T*)Pointer;

    /// <summary>
    /// The copy of the data in GPU memory (a <see cref="GpuMirror"/>), made when a GPU op first reads a host buffer or
    /// written by a GPU op; buffers are written once, so host and device copies never diverge.
    /// </summary>
    internal GpuMirror? Device { get; set; }

    protected virtual nint MaterializeHost() => _pointer;

    /// <summary>Gives the memory back now (scratch buffers of kernels); the buffer must not be used afterwards.</summary>
    internal abstract void Release();

    // Arrays whose data this is (views included). Arrays that the GC collects never let go, so the count reaches
    // zero only when every holder was disposed or freed explicitly; otherwise the finalizer returns the memory.
    private int _holders;

    internal void Hold() => Interlocked.Increment(ref _holders);

    internal void Drop()
    {
        if (Interlocked.Decrement(ref _holders) == 0)
        {
            Device?.Release();
            Release();
        }
    }
}

internal sealed unsafe class NativeBuffer : Buffer
{
    internal NativeBuffer(nint pointer, long bytes, long capacity)
        : base(pointer, bytes, capacity)
    {
    }

    internal override void Release()
    {
        nint p = Interlocked.Exchange(ref _pointer, 0);
        if (p != 0)
        {
            Allocator.Return(p, Capacity, Bytes);
            GC.SuppressFinalize(this);
        }
    }

    ~NativeBuffer()
    {
        nint p = Interlocked.Exchange(ref _pointer, 0);
        if (p != 0)
        {
            Allocator.Return(p, Capacity, Bytes);
        }
    }
}

internal sealed unsafe class ManagedBuffer : Buffer
{
    // Keeps the pinned array alive as long as the buffer.
    private readonly byte[] _array;

    internal ManagedBuffer(byte[] array, long bytes)
        : base(Aligned(array), bytes, bytes)
    {
        _array = array;
    }

    // The array is allocated with 64 spare bytes, so a 64-byte-aligned start always fits.
    private static nint Aligned(byte[] array)
    {
        nint p = (nint)System.Runtime.CompilerServices.Unsafe.AsPointer(ref System.Runtime.InteropServices.MemoryMarshal.GetArrayDataReference(array));
        return (p + 63) & ~(nint)63;
    }

    internal override void Release()
    {
    }
}

/// <summary>Thrown when an evaluation would allocate past <see cref="MemoryInfo.SetMemoryLimit"/>.</summary>
public sealed class MemoryLimitExceededException : Exception
{
    public MemoryLimitExceededException(long requested, long active, long limit)
        : base($"Allocating {requested:N0} bytes would exceed the memory limit of {limit:N0} bytes ({active:N0} bytes are in use).")
    {
        Requested = requested;
        Active = active;
        Limit = limit;
    }

    public long Requested { get; }
    public long Active { get; }
    public long Limit { get; }
}

/// <summary>
/// Hands out aligned native buffers and keeps freed ones in a size-bucketed cache, so that loops reuse memory
/// instead of faulting in fresh pages on every step.
/// </summary>
internal static unsafe class Allocator
{
    private const int Alignment = 64;
    private static readonly object s_lock = new();
    private static readonly Dictionary<long, Stack<nint>> s_cache = new();
    private static long s_active;
    private static long s_peak;
    private static long s_cached;
    private static long s_limit = long.MaxValue;
    private static long s_cacheLimit = 8L << 30;

    public static long Active => Interlocked.Read(ref s_active);
    public static long Peak => Interlocked.Read(ref s_peak);
    public static long Cached => Interlocked.Read(ref s_cached);
    public static long Limit => s_limit;

    public static void SetLimit(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        s_limit = bytes == 0 ? long.MaxValue : bytes;
    }

    public static void SetCacheLimit(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        s_cacheLimit = bytes;
        Trim(bytes);
    }

    public static void ResetPeak() => Interlocked.Exchange(ref s_peak, Active);

    public static void ClearCache() => Trim(0);

    /// <summary>Throws before anything is allocated when <paramref name="bytes"/> more would pass the limit.</summary>
    public static void CheckBudget(long bytes)
    {
        if (s_limit == long.MaxValue || Active + bytes <= s_limit)
        {
            return;
        }
        // Arrays the program no longer references may still await finalization: collect them before refusing.
        CollectGarbage(full: true);
        if (Active + bytes > s_limit)
        {
            throw new MemoryLimitExceededException(bytes, Active, s_limit);
        }
    }

    /// <summary>
    /// Intermediate arrays of an evaluated graph are freed only when the GC finalizes them, and their small managed
    /// objects put almost no pressure on the GC. So when active memory has grown by a step (32 MB, or half of what
    /// survived the last collection) since the last collection, collect and run finalizers before allocating more.
    /// </summary>
    private static readonly GrowthTrigger s_hostGrowth = new(32L << 20);

    /// <summary>
    /// Device memory, like host memory, returns to its cache when the GC finalizes the arrays that held it, and the
    /// GC sees none of it. A loop of GPU ops would otherwise ask the driver for fresh memory each step (slow) until the
    /// device is full: when device memory has grown by a step (256 MB, or half of what survived the last collection)
    /// since the last collection, collect and run finalizers first.
    /// </summary>
    private static readonly GrowthTrigger s_deviceGrowth = new(256L << 20);

    /// <summary>Collects when memory in use passes a mark a step above what survived the last collection.</summary>
    private sealed class GrowthTrigger
    {
        private readonly long _step;
        private long _collectAt;

        public GrowthTrigger(long step) => _collectAt = _step = step;

        public void CollectIfGrown(Func<long> inUse, long bytes)
        {
            if (inUse() + bytes <= Interlocked.Read(ref _collectAt))
            {
                return;
            }
            CollectGarbage(full: false);
            if (inUse() + bytes > Interlocked.Read(ref _collectAt))
            {
                CollectGarbage(full: true);
            }
            long after = inUse() + bytes;
            Interlocked.Exchange(ref _collectAt, after + Math.Max(_step, after / 2));
        }

        /// <summary>Memory freed since the last collection lowers the mark, so it stays a step above what is live.</summary>
        public void Freed(long inUse)
        {
            long target = inUse + Math.Max(_step, inUse / 2), current;
            while (target < (current = Interlocked.Read(ref _collectAt)) && Interlocked.CompareExchange(ref _collectAt, target, current) != current)
            {
            }
        }
    }

    /// <summary>Buffers up to this size come from the managed heap (see <see cref="Buffer"/>).</summary>
    public const int SmallBytes = 64;

    public static Buffer Allocate(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        if (bytes <= SmallBytes)
        {
            // Pinned on the POH: the address never moves, so pointers into it stay valid.
            return new ManagedBuffer(GC.AllocateUninitializedArray<byte>(SmallBytes + 64, pinned: true), bytes);
        }
        long capacity = RoundUp(Math.Max(bytes, 1));
        CheckBudget(bytes);
        s_hostGrowth.CollectIfGrown(() => Active, bytes);
        nint p = 0;
        lock (s_lock)
        {
            if (s_cache.TryGetValue(capacity, out var stack) && stack.Count > 0)
            {
                p = stack.Pop();
                s_cached -= capacity;
            }
        }
        if (p == 0)
        {
            bool huge = capacity >= HugePages.MinBytes && HugePages.Supported;
            p = (nint)NativeMemory.AlignedAlloc((nuint)capacity, (nuint)(huge ? HugePages.PageBytes : Alignment));
            if (p == 0)
            {
                throw new OutOfMemoryException($"Could not allocate {capacity:N0} bytes.");
            }
            if (huge)
            {
                HugePages.Advise(p, capacity);
            }
            if (capacity >= 1 << 16)
            {
                GC.AddMemoryPressure(capacity);
            }
        }
        long active = Interlocked.Add(ref s_active, bytes);
        long peak;
        while (active > (peak = Interlocked.Read(ref s_peak)) && Interlocked.CompareExchange(ref s_peak, active, peak) != peak)
        {
        }
        return new NativeBuffer(p, bytes, capacity);
    }

    /// <summary>Counts GPU memory with the host's (one budget, as MLX's unified memory); throws past the limit.</summary>
    internal static void ReserveDevice(long bytes)
    {
        CheckBudget(bytes);
        s_deviceGrowth.CollectIfGrown(() => DeviceActive, bytes);
        Interlocked.Add(ref s_deviceActive, bytes);
        long active = Interlocked.Add(ref s_active, bytes);
        long peak;
        while (active > (peak = Interlocked.Read(ref s_peak)) && Interlocked.CompareExchange(ref s_peak, active, peak) != peak)
        {
        }
    }

    internal static void ReturnDevice(long bytes)
    {
        long active = Interlocked.Add(ref s_deviceActive, -bytes);
        Interlocked.Add(ref s_active, -bytes);
        s_deviceGrowth.Freed(active);
    }

    /// <summary>Collects unreachable arrays and runs their finalizers, which hand their memory back.</summary>
    internal static void CollectGarbage(bool full)
    {
        if (full)
        {
            GC.Collect();
        }
        else
        {
            GC.Collect(1, GCCollectionMode.Forced, blocking: true);
        }
        GC.WaitForPendingFinalizers();
    }

    private static long s_deviceActive;

    public static long DeviceActive => Interlocked.Read(ref s_deviceActive);

    internal static void Return(nint pointer, long capacity, long bytes)
    {
        long active = Interlocked.Add(ref s_active, -bytes);
        s_hostGrowth.Freed(active);
        lock (s_lock)
        {
            if (s_cached + capacity <= s_cacheLimit)
            {
                if (!s_cache.TryGetValue(capacity, out var stack))
                {
                    s_cache[capacity] = stack = new Stack<nint>();
                }
                stack.Push(pointer);
                s_cached += capacity;
                return;
            }
        }
        Free(pointer, capacity);
    }

    private static void Trim(long keep)
    {
        List<(nint, long)> toFree = new();
        lock (s_lock)
        {
            foreach (var (capacity, stack) in s_cache)
            {
                while (s_cached > keep && stack.Count > 0)
                {
                    toFree.Add((stack.Pop(), capacity));
                    s_cached -= capacity;
                }
            }
        }
        foreach (var (p, c) in toFree)
        {
            Free(p, c);
        }
    }

    private static void Free(nint pointer, long capacity)
    {
        NativeMemory.AlignedFree((void*)pointer);
        if (capacity >= 1 << 16)
        {
            GC.RemoveMemoryPressure(capacity);
        }
    }

    // Small sizes round to 64 bytes; larger ones to a quarter of their power of two, so the cache can reuse them.
    private static long RoundUp(long bytes)
    {
        if (bytes <= 4096)
        {
            return (bytes + 63) & ~63L;
        }
        long pow = 1L << (63 - (int)long.LeadingZeroCount(bytes - 1));
        long step = Math.Max(pow / 4, 4096);
        return (bytes + step - 1) / step * step;
    }
}

/// <summary>Memory accounting, as <c>mlx.core.get_active_memory</c> and friends.</summary>
public sealed class MemoryInfo
{
    internal MemoryInfo()
    {
    }

    /// <summary>Bytes held by live arrays, in host and GPU memory together.</summary>
    public long ActiveBytes => Allocator.Active;

    /// <summary>The part of <see cref="ActiveBytes"/> in GPU memory (device copies of arrays and arrays computed there).</summary>
    public long DeviceActiveBytes => Allocator.DeviceActive;

    /// <summary>The largest <see cref="ActiveBytes"/> seen since the start or the last <see cref="ResetPeak"/>.</summary>
    public long PeakBytes => Allocator.Peak;

    /// <summary>Bytes kept in the buffer caches for reuse (host, and the GPU's once one is open).</summary>
    public long CacheBytes => Allocator.Cached + (Mx.GpuUsed ? GpuRuntime.CachedBytes : 0);

    /// <summary>The active-memory limit (long.MaxValue when none is set).</summary>
    public long MemoryLimit => Allocator.Limit;

    public void ResetPeak() => Allocator.ResetPeak();

    public void ClearCache()
    {
        Allocator.ClearCache();
        if (Mx.GpuUsed)
        {
            GpuRuntime.ClearCache();
        }
    }

    /// <summary>Caps active memory; an allocation past it throws <see cref="MemoryLimitExceededException"/>. 0 removes the cap.</summary>
    public void SetMemoryLimit(long bytes) => Allocator.SetLimit(bytes);

    public void SetCacheLimit(long bytes) => Allocator.SetCacheLimit(bytes);

    /// <summary>Throws <see cref="MemoryLimitExceededException"/> if <paramref name="bytes"/> more would pass the limit.</summary>
    public void EnsureAvailable(long bytes) => Allocator.CheckBudget(bytes);
}

/// <summary>
/// Large buffers on Linux ask for transparent huge pages (madvise; the usual setting serves them only when asked):
/// streaming 64 MB with 4 KB pages misses the TLB every 64 cache lines, and a one-thread sum of 64 MB ran at
/// 18-21 GB/s that way against 26-28 GB/s on 2 MB pages. The buffers are cached and reused, so the larger first
/// fault is paid once.
/// </summary>
internal static partial class HugePages
{
    public const long PageBytes = 2L << 20;

    /// <summary>Smallest buffer advised: four huge pages, so an unaligned tail wastes little.</summary>
    public const long MinBytes = 4 * PageBytes;

    private const int MadvHugePage = 14;

    public static readonly bool Supported = OperatingSystem.IsLinux() && (RuntimeInformation.ProcessArchitecture is Architecture.X64 or Architecture.Arm64)
        && Environment.GetEnvironmentVariable("MLX_HUGE_PAGES") != "0";

    public static void Advise(nint pointer, long bytes)
    {
        try
        {
            _ = Madvise(pointer, (nuint)bytes, MadvHugePage); // a refusal only costs speed
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
        }
    }

    [LibraryImport("libc", EntryPoint = "madvise")]
    private static partial int Madvise(nint address, nuint length, int advice);
}
