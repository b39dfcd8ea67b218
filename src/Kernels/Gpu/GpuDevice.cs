using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;

[assembly: InternalsVisibleTo("ILGPURuntime")]

namespace Mlx.Kernels.Gpu;

/// <summary>Which ILGPU accelerator stands behind the GPU device.</summary>
public enum GpuBackendKind
{
    Cuda, OpenCL, CpuAccelerator,
}

/// <summary>Thrown when a GPU is asked for and none can be opened.</summary>
public sealed class GpuUnavailableException : Exception
{
    public GpuUnavailableException(string message, Exception? inner = null)
        : base(message, inner)
    {
    }
}

/// <summary>The device could not give the memory asked for, even with its cache of freed blocks emptied.</summary>
public sealed class GpuOutOfMemoryException : Exception
{
    public GpuOutOfMemoryException(long bytes, long deviceBytes, Exception inner)
        : base($"GPU out of memory: {bytes} bytes asked for on a device of {deviceBytes} bytes ({inner.Message}).", inner)
    {
        Bytes = bytes;
    }

    public long Bytes { get; }
}

/// <summary>Device memory: a byte buffer on the accelerator, handed back to the device's cache when released.</summary>
public sealed class GpuMemory
{
    internal GpuMemory(MemoryBuffer1D<byte, Stride1D.Dense> buffer, long bytes)
    {
        Buffer = buffer;
        Bytes = bytes;
    }

    internal MemoryBuffer1D<byte, Stride1D.Dense> Buffer { get; }

    /// <summary>Bytes asked for (the buffer may be larger: sizes are rounded for reuse).</summary>
    public long Bytes { get; }

    public long Capacity => Buffer.Length;

    internal ArrayView<T> View<T>() where T : unmanaged => Buffer.View.AsContiguous().Cast<T>();
}

/// <summary>
/// One ILGPU accelerator: CUDA first, then an OpenCL GPU, or ILGPU's CPU accelerator when asked for (a GPU stand-in
/// for tests). Owns the device memory cache and the compiled kernels; every kernel goes to the accelerator's default
/// stream, in order. Not thread-safe: the evaluator calls it from one thread at a time.
/// </summary>
public sealed partial class GpuDevice : IDisposable
{
    private readonly Context _context;
    private readonly Dictionary<(string, Type), Delegate> _kernels = new();
    private readonly Dictionary<long, Stack<MemoryBuffer1D<byte, Stride1D.Dense>>> _cache = new();
    private readonly ConcurrentQueue<GpuMemory> _released = new();

    // Every buffer this device handed out, live or cached. Device memory comes back through finalizers of the arrays'
    // mirrors; without this root, ILGPU's own finalizer could dispose a buffer first and the cache would hand out a
    // dead one.
    private readonly HashSet<MemoryBuffer1D<byte, Stride1D.Dense>> _owned = new();
    private long _cachedBytes;

    private GpuDevice(Context context, Accelerator accelerator, GpuBackendKind kind)
    {
        _context = context;
        Accelerator = accelerator;
        Kind = kind;
        bool isCpu = kind == GpuBackendKind.CpuAccelerator;
        // Grid-stride kernels: a fixed grid that loops. On the CPU accelerator each group pays a barrier, so one
        // small group per core is fastest; on a GPU, enough 256-thread groups to fill every multiprocessor.
        GroupSize = isCpu ? accelerator.MaxNumThreadsPerGroup : Math.Min(256, accelerator.MaxNumThreadsPerGroup);
        MaxGroups = isCpu ? accelerator.NumMultiprocessors : accelerator.NumMultiprocessors * 16;
        SupportsFloat64 = kind != GpuBackendKind.OpenCL || (accelerator is CLAccelerator cl && cl.Capabilities.Float64);
    }

    internal Accelerator Accelerator { get; }

    public GpuBackendKind Kind { get; }

    public string Name => Accelerator.Name;

    public long MemoryBytes => Accelerator.MemorySize;

    public bool SupportsFloat64 { get; }

    internal int GroupSize { get; }

    internal int MaxGroups { get; }

    /// <summary>Bytes held by freed buffers kept for reuse (those released since the last allocation included).</summary>
    public long CachedBytes
    {
        get
        {
            DrainReleased();
            return _cachedBytes;
        }
    }

    /// <summary>
    /// Opens the first CUDA device, else the first OpenCL GPU; with <paramref name="cpuAccelerator"/>, ILGPU's CPU
    /// accelerator (2 threads per group, one group per core; <paramref name="cpuGroupSize"/> threads per group
    /// instead, in 32-thread warps, lets tests run the kernels written for a GPU's 256-thread groups).
    /// </summary>
    public static GpuDevice Open(bool cpuAccelerator, int cpuGroupSize = 2)
    {
        if (cpuAccelerator)
        {
            var cpu = cpuGroupSize <= 2 ? new CPUDevice(2, 1, Math.Max(1, Environment.ProcessorCount)) : new CPUDevice(32, cpuGroupSize / 32, 1);
            var context = Context.Create(b => b.CPU(cpu).EnableAlgorithms().Optimize(Optimization));
            return new GpuDevice(context, context.GetCPUDevice(0).CreateAccelerator(context), GpuBackendKind.CpuAccelerator);
        }
        Context? ctx = null;
        try
        {
            ctx = Context.Create(b => b.Cuda().OpenCL(d => d.DeviceType == CLDeviceType.CL_DEVICE_TYPE_GPU).EnableAlgorithms().Optimize(Optimization));
            var cuda = ctx.GetCudaDevices();
            if (cuda.Count > 0)
            {
                return new GpuDevice(ctx, cuda[0].CreateAccelerator(ctx), GpuBackendKind.Cuda);
            }
            var cl = ctx.GetCLDevices();
            if (cl.Count > 0)
            {
                return new GpuDevice(ctx, cl[0].CreateAccelerator(ctx), GpuBackendKind.OpenCL);
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            ctx?.Dispose();
            throw new GpuUnavailableException($"No GPU could be opened: {e.Message}", e);
        }
        ctx.Dispose();
        throw new GpuUnavailableException("No GPU found: no CUDA device and no OpenCL GPU. Set MLX_GPU=cpu to run the GPU backend on ILGPU's CPU accelerator.");
    }

    /// <summary>
    /// ILGPU's O2 ends with an aggressive code placement that moves values next to their uses, loop bodies included:
    /// on CUDA it put a batch offset's 64-bit divisions inside the tiled matmul's load loop (30x slower than O1's code).
    /// </summary>
    internal const OptimizationLevel Optimization = OptimizationLevel.O1;

    // ------------------------------------------------------------------ memory

    /// <summary>Device memory of at least <paramref name="bytes"/> bytes, from the cache when a freed block fits.</summary>
    public GpuMemory Allocate(long bytes)
    {
        DrainReleased();
        long capacity = RoundSize(bytes);
        if (_cache.TryGetValue(capacity, out var stack) && stack.Count > 0)
        {
            _cachedBytes -= capacity;
            return new GpuMemory(stack.Pop(), bytes);
        }
        MemoryBuffer1D<byte, Stride1D.Dense> buffer;
        try
        {
            buffer = Accelerator.Allocate1D<byte>(capacity);
        }
        catch (Exception e) when (e is not GpuUnavailableException)
        {
            ClearCache();
            try
            {
                buffer = Accelerator.Allocate1D<byte>(capacity);
            }
            catch (Exception again) when (again is not GpuUnavailableException)
            {
                throw new GpuOutOfMemoryException(capacity, MemoryBytes, again);
            }
        }
        _owned.Add(buffer);
        return new GpuMemory(buffer, bytes);
    }

    /// <summary>Hands memory back for reuse; callable from any thread (finalizers), freed on the device's thread.</summary>
    public void Release(GpuMemory memory) => _released.Enqueue(memory);

    public void ClearCache()
    {
        DrainReleased();
        foreach (var stack in _cache.Values)
        {
            while (stack.Count > 0)
            {
                var buffer = stack.Pop();
                _owned.Remove(buffer);
                buffer.Dispose();
            }
        }
        _cachedBytes = 0;
    }

    private void DrainReleased()
    {
        while (_released.TryDequeue(out var m))
        {
            long capacity = m.Buffer.Length;
            if (!_cache.TryGetValue(capacity, out var stack))
            {
                _cache[capacity] = stack = new Stack<MemoryBuffer1D<byte, Stride1D.Dense>>();
            }
            stack.Push(m.Buffer);
            _cachedBytes += capacity;
        }
    }

    /// <summary>The size actually reserved: at least 16 bytes, and a quarter-power-of-two step above 4 KiB, so blocks are reusable.</summary>
    public static long RoundSize(long bytes)
    {
        if (bytes <= 4096)
        {
            return Math.Max(16, (bytes + 255) & ~255L);
        }
        int shift = 63 - System.Numerics.BitOperations.LeadingZeroCount((ulong)bytes) - 2;
        long step = 1L << shift;
        return (bytes + step - 1) & ~(step - 1);
    }

    public unsafe void Upload(GpuMemory destination, nint source, long bytes)
    {
        if (bytes > 0)
        {
            destination.Buffer.View.SubView(0, bytes).CopyFromCPU(ref Unsafe.AsRef<byte>((void*)source), bytes);
        }
    }

    public unsafe void Download(GpuMemory source, nint destination, long bytes)
    {
        if (bytes > 0)
        {
            source.Buffer.View.SubView(0, bytes).CopyToCPU(ref Unsafe.AsRef<byte>((void*)destination), bytes);
            Accelerator.Synchronize();
        }
    }

    public void Synchronize() => Accelerator.Synchronize();

    // ------------------------------------------------------------------ kernels

    /// <summary>Kernels compiled so far (each once per device, whatever the number of launches).</summary>
    public int CompiledKernels => _kernels.Count;

    /// <summary>The kernel methods loaded so far, with their type arguments (for compiling them for other devices).</summary>
    public IEnumerable<System.Reflection.MethodInfo> LoadedKernelMethods => _kernels.Values.Select(KernelOf).OfType<Kernel>().Select(k => k.CompiledKernel.SourceMethod);

    // A stream-kernel delegate of ILGPU closes over the launcher delegate, whose target is the loaded kernel.
    [System.Diagnostics.CodeAnalysis.UnconditionalSuppressMessage("Trimming", "IL2075",
        Justification = "ILGPU emits code at run time: this assembly never runs trimmed or under NativeAOT (Core's GPU switch is off there).")]
    private static Kernel? KernelOf(Delegate d) => d.Target as Kernel
        ?? d.Target?.GetType().GetFields(System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.NonPublic)
            .Select(f => f.GetValue(d.Target)).OfType<Delegate>().Select(inner => inner.Target).OfType<Kernel>().FirstOrDefault();

    /// <summary>A kernel compiled once per device and cached; <paramref name="name"/> and the delegate type identify it.</summary>
    internal TDelegate Kernel<TDelegate>(string name, Func<Accelerator, TDelegate> load) where TDelegate : Delegate
    {
        var key = (name, typeof(TDelegate));
        if (!_kernels.TryGetValue(key, out var kernel))
        {
            _kernels[key] = kernel = load(Accelerator);
        }
        return (TDelegate)kernel;
    }

    /// <summary>The launch shape of a grid-stride kernel over <paramref name="n"/> items.</summary>
    internal KernelConfig GridFor(long n)
    {
        long groups = Math.Clamp((n + GroupSize - 1) / GroupSize, 1, MaxGroups);
        return new KernelConfig((int)groups, GroupSize);
    }

    public void Dispose()
    {
        _cuBlas?.Dispose();
        ClearCache();
        Accelerator.Dispose();
        _context.Dispose();
    }
}
