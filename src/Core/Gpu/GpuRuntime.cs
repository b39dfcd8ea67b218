using System.Diagnostics.CodeAnalysis;
using Mlx.Kernels.Gpu;

namespace Mlx;

/// <summary>Which accelerator <see cref="Device.Gpu"/> opens.</summary>
public enum GpuBackendPreference
{
    /// <summary>CUDA, else an OpenCL GPU; the environment variable MLX_GPU=cpu picks the CPU accelerator instead.</summary>
    Auto,

    /// <summary>ILGPU's CPU accelerator: the GPU kernels run on the CPU (for tests and machines without a GPU).</summary>
    CpuAccelerator,
}

/// <summary>What a device is, as mlx.core's device_info.</summary>
public sealed record DeviceInfo(Device Device, string Backend, string Name, long MemoryBytes, bool SupportsFloat64);

/// <summary>
/// The GPU stream's device: opened on first use, from one thread at a time (the evaluator's). Everything that touches
/// ILGPU types sits behind this class, so Mlx.Kernels.Gpu and ILGPU are loaded only when a GPU is asked for.
/// </summary>
internal static class GpuRuntime
{
    private static readonly object s_lock = new();
    private static GpuDevice? s_device;
    private static string? s_failure;
    private static GpuBackendPreference s_preference =
        Environment.GetEnvironmentVariable("MLX_GPU") is "cpu" ? GpuBackendPreference.CpuAccelerator : GpuBackendPreference.Auto;

    /// <summary>
    /// False in NativeAOT (ILGPU emits code at run time) or when the app sets the switch Mlx.Gpu.IsSupported to false;
    /// the trimmer then drops the GPU path and ILGPU with it.
    /// </summary>
    [FeatureSwitchDefinition("Mlx.Gpu.IsSupported")]
    internal static bool IsSupported =>
        System.Runtime.CompilerServices.RuntimeFeature.IsDynamicCodeSupported
        && (!AppContext.TryGetSwitch("Mlx.Gpu.IsSupported", out bool enabled) || enabled);

    public static void SetPreference(GpuBackendPreference preference)
    {
        lock (s_lock)
        {
            if (s_device is not null && preference != s_preference)
            {
                throw new InvalidOperationException("The GPU backend is already open; choose it before the first GPU op.");
            }
            s_preference = preference;
            s_failure = null;
        }
    }

    /// <summary>The device, opened on first use; a clear NotSupportedException when there is none.</summary>
    public static GpuDevice Device
    {
        get
        {
            if (s_device is { } d)
            {
                return d;
            }
            lock (s_lock)
            {
                if (s_device is null)
                {
                    if (!IsSupported)
                    {
                        throw new NotSupportedException("The GPU backend is disabled in this build (NativeAOT, or the Mlx.Gpu.IsSupported switch is off). Use Device.Cpu.");
                    }
                    if (s_failure is not null)
                    {
                        throw new NotSupportedException(s_failure);
                    }
                    s_device = Open(s_preference == GpuBackendPreference.CpuAccelerator);
                }
                return s_device;
            }
        }
    }

    private static GpuDevice Open(bool cpuAccelerator)
    {
        try
        {
            return GpuDevice.Open(cpuAccelerator);
        }
        catch (Exception e) when (e is GpuUnavailableException or DllNotFoundException or TypeInitializationException or BadImageFormatException)
        {
            s_failure = $"No GPU is available: {e.Message} Use Device.Cpu.";
            throw new NotSupportedException(s_failure, e);
        }
    }

    private static long s_uploads, s_downloads;

    /// <summary>Host-to-device copies of array buffers so far (each buffer goes up at most once).</summary>
    public static long Uploads => Interlocked.Read(ref s_uploads);

    /// <summary>Device-to-host copies of GPU-computed buffers so far (each at most once).</summary>
    public static long Downloads => Interlocked.Read(ref s_downloads);

    public static DeviceInfo Info(Device device)
    {
        var d = Device;
        string backend = d.Kind switch
        {
            GpuBackendKind.Cuda => "cuda",
            GpuBackendKind.OpenCL => "opencl",
            _ => "ilgpu-cpu",
        };
        return new DeviceInfo(device, backend, d.Name, d.MemoryBytes, d.SupportsFloat64);
    }

    /// <summary>Bytes of freed device memory kept for reuse.</summary>
    public static long CachedBytes
    {
        get
        {
            if (s_device is not { } d)
            {
                return 0;
            }
            lock (Evaluator.Lock)
            {
                return d.CachedBytes;
            }
        }
    }

    public static void ClearCache()
    {
        if (s_device is { } d)
        {
            lock (Evaluator.Lock)
            {
                d.ClearCache();
            }
        }
    }

    public static void Synchronize()
    {
        if (s_device is { } d)
        {
            lock (Evaluator.Lock)
            {
                d.Synchronize();
            }
        }
    }

    // ------------------------------------------------------------------ memory

    /// <summary>The device copy of <paramref name="a"/>'s buffer, uploaded once when it has none.</summary>
    public static GpuMemory Memory(MxArray a) => Memory(a.Buffer);

    public static GpuMemory Memory(Buffer buffer)
    {
        if (buffer.Device is { } mirror)
        {
            return (GpuMemory)mirror.Memory;
        }
        var memory = Allocate(buffer.Bytes);
        Device.Upload(memory, buffer.Pointer, buffer.Bytes);
        Interlocked.Increment(ref s_uploads);
        buffer.Device = new GpuMirror(memory, memory.Capacity);
        return memory;
    }

    /// <summary>Gives <paramref name="o"/> fresh row-major data in GPU memory (its host copy is made only if read).</summary>
    public static GpuMemory AllocateOutput(MxArray o)
    {
        var memory = Allocate(o.NBytes);
        o.SetData(new DeviceBuffer(o.NBytes, new GpuMirror(memory, memory.Capacity)), MxArray.RowMajorStrides(o.ShapeRef), 0);
        return memory;
    }

    /// <summary>A new row-major array whose data is fresh GPU memory (a temporary that outputs can view).</summary>
    public static MxArray NewArray(int[] shape, DType dtype)
    {
        long bytes = shape.Aggregate(1L, (a, b) => a * b) * dtype.Size();
        var memory = Allocate(bytes);
        return new MxArray(shape, dtype, new DeviceBuffer(bytes, new GpuMirror(memory, memory.Capacity)), MxArray.RowMajorStrides(shape), 0);
    }

    /// <summary>Scratch memory for one op, handed back with <see cref="Free"/> once its kernels are queued (the stream is in order).</summary>
    public static GpuMemory Scratch(long bytes) => Device.Allocate(Math.Max(bytes, 1));

    public static void Free(GpuMemory scratch) => Device.Release(scratch);

    private static GpuMemory Allocate(long bytes)
    {
        var device = Device;
        long capacity = GpuDevice.RoundSize(Math.Max(bytes, 1));
        Allocator.ReserveDevice(capacity);
        try
        {
            try
            {
                return device.Allocate(Math.Max(bytes, 1));
            }
            catch (GpuOutOfMemoryException)
            {
                // Unreachable arrays may still hold device memory until finalized: free them, then try once more.
                Allocator.CollectGarbage(full: true);
                return device.Allocate(Math.Max(bytes, 1));
            }
        }
        catch
        {
            Allocator.ReturnDevice(capacity);
            throw;
        }
    }

    public static void Download(GpuMirror mirror, nint destination, long bytes)
    {
        lock (Evaluator.Lock)
        {
            Device.Download((GpuMemory)mirror.Memory, destination, bytes);
            Interlocked.Increment(ref s_downloads);
        }
    }

    public static void Release(object memory, long capacity)
    {
        Allocator.ReturnDevice(capacity);
        s_device?.Release((GpuMemory)memory);
    }
}

/// <summary>A buffer's device copy; the memory goes back to the device cache when the buffer is collected or released.</summary>
internal sealed class GpuMirror
{
    private object? _memory;
    private readonly long _capacity;

    // Typed as object so that Buffer does not load Mlx.Kernels.Gpu.
    public GpuMirror(object memory, long capacity)
    {
        _memory = memory;
        _capacity = capacity;
    }

    public object Memory => _memory ?? throw new ObjectDisposedException(nameof(GpuMirror));

    public void Release()
    {
        if (Interlocked.Exchange(ref _memory, null) is { } m)
        {
            GpuRuntime.Release(m, _capacity);
            GC.SuppressFinalize(this);
        }
    }

    ~GpuMirror()
    {
        if (Interlocked.Exchange(ref _memory, null) is { } m)
        {
            GpuRuntime.Release(m, _capacity);
        }
    }
}

/// <summary>Data computed on the GPU: device memory first, a host copy made on first host read.</summary>
internal sealed class DeviceBuffer : Buffer
{
    private Buffer? _host;

    public DeviceBuffer(long bytes, GpuMirror mirror)
        : base(0, bytes, bytes)
    {
        Device = mirror;
    }

    protected override nint MaterializeHost()
    {
        lock (this)
        {
            if (_pointer == 0)
            {
                var host = Allocator.Allocate(Bytes);
                GpuRuntime.Download(Device!, host.Pointer, Bytes);
                _host = host;
                _pointer = host.Pointer;
            }
            return _pointer;
        }
    }

    internal override void Release()
    {
        Device?.Release();
        _host?.Release();
    }
}
