using System.Runtime.InteropServices;

namespace Mlx;

/// <summary>
/// Every op of mlx.core, named in PascalCase with MLX's argument order and defaults. Ops build graph nodes;
/// nothing is computed until <see cref="Eval"/> or an implicit evaluation.
/// </summary>
public static unsafe partial class Mx
{
    private static Device s_defaultDevice = Device.Cpu;
    private static int s_nextStream = 1;

    /// <summary>Memory accounting and limits, as mlx.core's get_active_memory and friends.</summary>
    public static MemoryInfo Memory { get; } = new();

    public static Device DefaultDevice => s_defaultDevice;

    public static void SetDefaultDevice(Device device)
    {
        CheckDevice(device);
        s_defaultDevice = device;
    }

    public static Stream DefaultStream(Device device) => new(0, device);

    public static Stream NewStream(Device device)
    {
        CheckDevice(device);
        return new Stream(Interlocked.Increment(ref s_nextStream), device);
    }

    /// <summary>Waits for all work on <paramref name="stream"/> (all streams when null).</summary>
    public static void Synchronize(Stream? stream = null)
    {
        Task[] pending;
        lock (s_pending)
        {
            pending = s_pending.ToArray();
            s_pending.Clear();
        }
        Task.WaitAll(pending);
        if (stream is null || stream.Device.Type == DeviceType.Gpu)
        {
            SynchronizeGpu();
        }
    }

    // Kept apart so that a CPU-only program never loads the GPU assemblies.
    private static void SynchronizeGpu()
    {
        if (GpuRuntime.IsSupported && s_gpuUsed)
        {
            GpuRuntime.Synchronize();
        }
    }

    private static bool s_gpuUsed;

    /// <summary>Whether a GPU was opened; until then nothing touches the GPU assemblies.</summary>
    internal static bool GpuUsed => s_gpuUsed;

    private static readonly List<Task> s_pending = new();

    /// <summary>Opens the GPU when <paramref name="device"/> is one; a clear NotSupportedException when there is none.</summary>
    internal static void CheckDevice(Device device)
    {
        if (device.Type == DeviceType.Gpu)
        {
            _ = GpuRuntime.Device;
            s_gpuUsed = true;
        }
    }

    /// <summary>Picks the accelerator behind <see cref="Device.Gpu"/>; call before the first GPU op.</summary>
    public static void SetGpuBackend(GpuBackendPreference preference) => GpuRuntime.SetPreference(preference);

    /// <summary>What <paramref name="device"/> is: for the GPU, its backend (cuda, opencl or ilgpu-cpu), name and memory.</summary>
    public static DeviceInfo DeviceInfo(Device device) =>
        device.Type == DeviceType.Gpu
            ? GpuRuntime.Info(device)
            : new DeviceInfo(device, "cpu", System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture.ToString(), GC.GetGCMemoryInfo().TotalAvailableMemoryBytes, true);

    [ThreadStatic]
    private static Device? t_placement;

    /// <summary>The device new nodes run on: the innermost op's stream or device, else the default device.</summary>
    internal static Device PlacementDevice => t_placement ?? s_defaultDevice;

    /// <summary>
    /// Whether new nodes run on the CPU: ops with a one-kernel CPU primitive and no GPU kernel (layer norm, log-softmax,
    /// logsumexp, partition, top-k, the activations) build their composition of GPU-capable ops elsewhere.
    /// </summary>
    internal static bool PlacedOnCpu => PlacementDevice.Type == DeviceType.Cpu;

    /// <summary>
    /// Places every node an op builds (its sub-ops included) on <paramref name="stream"/>'s device until disposed;
    /// free when <paramref name="stream"/> is null.
    /// </summary>
    internal static Placement Place(StreamOrDevice? stream)
    {
        if (stream is not { } s)
        {
            return default;
        }
        var device = s.Resolve();
        CheckDevice(device);
        var previous = t_placement;
        t_placement = device;
        return new Placement(previous, true);
    }

    /// <summary>
    /// Runs the ops built until disposal on <paramref name="stream"/>'s device, as <c>with mx.stream(s):</c> in MLX
    /// (an op's own stream argument still wins).
    /// </summary>
    public static IDisposable StreamScope(StreamOrDevice stream) => Place(stream);

    internal readonly struct Placement : IDisposable
    {
        private readonly Device? _previous;
        private readonly bool _active;

        public Placement(Device? previous, bool active)
        {
            _previous = previous;
            _active = active;
        }

        public void Dispose()
        {
            if (_active)
            {
                t_placement = _previous;
            }
        }
    }

    /// <summary>Computes the given arrays and everything they depend on.</summary>
    public static void Eval(params MxArray[] arrays) => Evaluator.Eval(arrays);

    /// <summary>
    /// Starts a <see cref="DisposeScope"/> on this thread: the arrays made until it is disposed are disposed with it,
    /// except those moved out (<see cref="DisposeScope.MoveToOuter(MxArray[])"/>), detached, or stored as module
    /// parameters or optimizer state. One per training step keeps memory flat and the cache warm.
    /// </summary>
    public static DisposeScope NewDisposeScope() => new();

    public static void Eval(IEnumerable<MxArray> arrays) => Evaluator.Eval(arrays);

    /// <summary>Starts computing the arrays in the background; a later <see cref="Eval"/> or read waits for it.</summary>
    public static Task AsyncEval(params MxArray[] arrays)
    {
        var task = Task.Run(() => Evaluator.Eval(arrays));
        lock (s_pending)
        {
            s_pending.Add(task);
        }
        return task;
    }

    // ---------------------------------------------------------------- creation from data

    /// <summary>An array of <paramref name="data"/> (row-major) with <paramref name="shape"/>, converted to <paramref name="dtype"/> if given.</summary>
    public static MxArray Array<T>(T[] data, int[] shape, DType? dtype = null) where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(shape);
        long size = Shapes.CheckedSize(shape);
        if (size != data.Length)
        {
            throw new ArgumentException($"{data.Length} elements cannot fill shape {MxArray.FormatShape(shape)} ({size} elements).");
        }
        var native = DTypes.Of<T>();
        var array = FromSpan<T>(data, (int[])shape.Clone(), native);
        return dtype is { } d && d != native ? AsType(array, d) : array;
    }

    /// <summary>A 1-D array of <paramref name="data"/>.</summary>
    public static MxArray Array<T>(T[] data, DType? dtype = null) where T : unmanaged => Array(data, new[] { data.Length }, dtype);

    /// <summary>A 0-d array holding <paramref name="scalar"/>. A double becomes float32, as in MLX, unless <paramref name="dtype"/> says otherwise.</summary>
    public static MxArray Array<T>(T scalar, DType? dtype = null) where T : unmanaged
    {
        if (typeof(T) == typeof(double) && dtype is null)
        {
            return FromSpan(new[] { (float)(double)(object)scalar }, System.Array.Empty<int>(), DType.Float32);
        }
        var native = DTypes.Of<T>();
        var array = FromSpan(new[] { scalar }, System.Array.Empty<int>(), native);
        return dtype is { } d && d != native ? AsType(array, d) : array;
    }

    internal static MxArray FromSpan<T>(ReadOnlySpan<T> data, int[] shape, DType dtype) where T : unmanaged
    {
        var buffer = Allocator.Allocate((long)data.Length * sizeof(T));
        data.CopyTo(new Span<T>((void*)buffer.Pointer, data.Length));
        return new MxArray(shape, dtype, buffer, MxArray.RowMajorStrides(shape), 0, holds: true);
    }

    /// <summary>An evaluated array over a copy of raw little-endian bytes.</summary>
    public static MxArray FromBytes(ReadOnlySpan<byte> bytes, int[] shape, DType dtype)
    {
        long size = Shapes.CheckedSize(shape);
        if (size * dtype.Size() != bytes.Length)
        {
            throw new ArgumentException($"{bytes.Length} bytes do not hold {size} elements of {dtype.Name()}.");
        }
        var array = FromSpan(bytes, (int[])shape.Clone(), dtype);
        if (dtype == DType.Bool)
        {
            // Any nonzero byte is true; store it as 1 so it compares equal to true.
            var b = new Span<byte>((void*)array.Buffer.Pointer, bytes.Length);
            for (int i = 0; i < b.Length; i++) b[i] = b[i] != 0 ? (byte)1 : (byte)0;
        }
        return array;
    }

    internal static MxArray Weak(double value) => new(System.Array.Empty<int>(), DType.Float32, Scalar((float)value), System.Array.Empty<long>(), 0) { IsWeak = true, WeakFloat = value };

    internal static MxArray Weak(long value) => new(System.Array.Empty<int>(), DType.Int32, Scalar((int)value), System.Array.Empty<long>(), 0) { IsWeak = true, WeakInt = value };

    private static Buffer Scalar<T>(T value) where T : unmanaged
    {
        var b = Allocator.Allocate(sizeof(T));
        *(T*)b.Pointer = value;
        return b;
    }

    // ---------------------------------------------------------------- dtype

    public static MxArray AsType(MxArray a, DType dtype, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        if (a.DType == dtype)
        {
            return a;
        }
        return MxArray.Create(a.ShapeRef, dtype, new AsTypePrimitive(dtype), a);
    }

    /// <summary>A row-major copy of <paramref name="a"/>.</summary>
    public static MxArray Contiguous(MxArray a, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        return MxArray.Create(a.ShapeRef, a.DType, new AsTypePrimitive(a.DType), a);
    }

    public static MxArray Copy(MxArray a, StreamOrDevice? stream = null) => Contiguous(a, stream);

    /// <summary>Stops gradients: the same values, seen as a constant by the transforms.</summary>
    public static MxArray StopGradient(MxArray a, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        return MxArray.Create(a.ShapeRef, a.DType, new StopGradientPrimitive(), a);
    }
}

internal sealed class StopGradientPrimitive : Primitive
{
    // The output shares the input's buffer: nothing to compute on any device.
    public override bool HasGpuKernel => true;

    public override string Name => "StopGradient";

    public override void EvalCpu(MxArray[] inputs, MxArray[] outputs) =>
        outputs[0].SetView(inputs[0], inputs[0].Strides, inputs[0].Offset);

    public override MxArray[] Vjp(MxArray[] primals, MxArray[] cotangents, int[] argnums, MxArray[] outputs) => new[] { Mx.ZerosLike(primals[0]) };

    public override MxArray[] Jvp(MxArray[] primals, MxArray[] tangents, int[] argnums, MxArray[] outputs) => new[] { Mx.ZerosLike(primals[0]) };

    public override MxArray[]? Vmap(MxArray[] inputs, bool[] batched, MxArray[] outputs) =>
        new[] { MxArray.Create(new[] { inputs[0].ShapeRef[0] }.Concat(outputs[0].ShapeRef).ToArray(), outputs[0].DType, this, inputs[0]) };
}

/// <summary>Shape arithmetic: every product overflow-checked, axes normalized, broadcasting.</summary>
internal static class Shapes
{
    public static long CheckedSize(int[] shape)
    {
        long n = 1;
        foreach (int d in shape)
        {
            if (d < 0)
            {
                throw new ArgumentException($"Negative dimension {d} in shape {MxArray.FormatShape(shape)}.");
            }
            try
            {
                n = checked(n * d);
            }
            catch (OverflowException)
            {
                throw new OverflowException($"The shape {MxArray.FormatShape(shape)} has more elements than can be counted in 64 bits.");
            }
        }
        return n;
    }

    public static int Axis(int axis, int ndim)
    {
        int a = axis < 0 ? axis + ndim : axis;
        if (a < 0 || a >= ndim)
        {
            throw new ArgumentException($"Axis {axis} is out of bounds for an array of dimension {ndim}.");
        }
        return a;
    }

    public static int[] Axes(int[]? axes, int ndim)
    {
        if (axes is null)
        {
            return Enumerable.Range(0, ndim).ToArray();
        }
        var result = axes.Select(a => Axis(a, ndim)).ToArray();
        if (result.Distinct().Count() != result.Length)
        {
            throw new ArgumentException($"Duplicate axes in [{string.Join(", ", axes)}].");
        }
        return result;
    }

    public static int[] Broadcast(int[] a, int[] b)
    {
        int nd = Math.Max(a.Length, b.Length);
        var result = new int[nd];
        for (int i = 0; i < nd; i++)
        {
            int da = i - (nd - a.Length) >= 0 ? a[i - (nd - a.Length)] : 1;
            int db = i - (nd - b.Length) >= 0 ? b[i - (nd - b.Length)] : 1;
            if (da != db && da != 1 && db != 1)
            {
                throw new ArgumentException($"Shapes {MxArray.FormatShape(a)} and {MxArray.FormatShape(b)} cannot be broadcast.");
            }
            result[i] = da == 1 ? db : da;
        }
        return result;
    }
}

public static partial class Mx
{
    /// <summary>
    /// As mlx.core.depends: <paramref name="inputs"/> again (sharing their data), but evaluating them evaluates
    /// <paramref name="dependencies"/> first: an ordering edge in the graph for side effects (a write that must happen
    /// before a read). Gradients flow to the inputs only.
    /// </summary>
    public static MxArray[] Depends(MxArray[] inputs, MxArray[] dependencies, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        if (inputs.Length == 0) return inputs;
        return MxArray.Create(inputs.Select(a => a.ShapeRef).ToArray(), inputs.Select(a => a.DType).ToArray(),
            new DependsPrimitive(inputs.Length), inputs.Concat(dependencies).ToArray());
    }
}

/// <summary>Outputs = the first <c>Count</c> inputs, shared; the remaining inputs are only evaluated before them.</summary>
internal sealed class DependsPrimitive(int count) : Primitive
{
    public int Count { get; } = count;

    public override bool HasGpuKernel => true;

    public override string Name => "Depends";

    public override bool IsEquivalent(Primitive other) => other is DependsPrimitive p && p.Count == Count;

    public override void EvalCpu(MxArray[] inputs, MxArray[] outputs)
    {
        for (int i = 0; i < Count; i++) outputs[i].SetView(inputs[i], inputs[i].Strides, inputs[i].Offset);
    }

    public override MxArray[] Vjp(MxArray[] primals, MxArray[] cotangents, int[] argnums, MxArray[] outputs) =>
        argnums.Select(k => k < Count ? cotangents[k] : Mx.ZerosLike(primals[k])).ToArray();

    public override MxArray[] Jvp(MxArray[] primals, MxArray[] tangents, int[] argnums, MxArray[] outputs) =>
        Enumerable.Range(0, Count).Select(i => RuleHelpers.TangentOrZeros(i, primals, tangents, argnums)).ToArray();

    public override MxArray[]? Vmap(MxArray[] inputs, bool[] batched, MxArray[] outputs)
    {
        int b = RuleHelpers.BatchSize(inputs, batched);
        var lifted = inputs.Select((x, i) => RuleHelpers.Lift(x, batched[i], b)).ToArray();
        return Mx.Depends(lifted[..Count], lifted[Count..]);
    }
}
