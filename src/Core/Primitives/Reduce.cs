using System.Numerics;
using Mlx.Kernels;
using Mlx.Kernels.Gpu;

namespace Mlx;

public enum ReduceOp
{
    Sum, Prod, Max, Min, And, Or,
}

/// <summary>Reductions over a set of axes; the output keeps reduced axes as size 1 (the op reshapes).</summary>
internal sealed unsafe class ReducePrimitive : Primitive
{
    public ReducePrimitive(ReduceOp op, int[] axes)
    {
        Op = op;
        Axes = axes;
    }

    public ReduceOp Op { get; }
    public int[] Axes { get; }

    public override string Name => Op.ToString();

    public override bool IsEquivalent(Primitive other) => other is ReducePrimitive p && p.Op == Op && p.Axes.SequenceEqual(Axes);

    /// <summary>Runs of consecutive axes (first, last), the last run first.</summary>
    private static IEnumerable<(int First, int Last)> AdjacentRuns(int[] axes)
    {
        var sorted = axes.OrderByDescending(a => a).ToArray();
        for (int i = 0; i < sorted.Length;)
        {
            int last = sorted[i], first = last;
            while (++i < sorted.Length && sorted[i] == first - 1) first--;
            yield return (first, last);
        }
    }

    public override void EvalCpu(MxArray[] inputs, MxArray[] outputs)
    {
        var o = outputs[0];
        if (o.DType is DType.Float16 or DType.BFloat16)
        {
            Dispatch.ViaFloat32(inputs, outputs, EvalCpu);
            return;
        }
        DType work = Op is ReduceOp.And or ReduceOp.Or ? DType.Bool : o.DType;
        var x = inputs[0].DType == work && inputs[0].IsRowContiguous ? inputs[0] : Cast.Materialize(inputs[0], work);
        if (Op is ReduceOp.Max or ReduceOp.Min && Axes.Length > 1 && Dispatch.IsComputeFloat(work) && AdjacentRuns(Axes).Skip(1).Any()
            && Window.Fits(x.ShapeRef, Axes))
        {
            // Several separate runs of axes (a pooling window) in one pass instead of one pass per run.
            o.AllocateData();
            var wv = new WindowKernel { X = x, Y = o, Window = Window.Of(x.ShapeRef, Axes), Max = Op == ReduceOp.Max };
            Dispatch.Float(work, ref wv);
            if (!ReferenceEquals(x, inputs[0])) x.Buffer.Release();
            return;
        }
        var shape = (int[])x.ShapeRef.Clone();
        MxArray current = x;
        // Adjacent reduced axes go as one (x is row-major): a bias gradient over (N, H, W) of NHWC is one sum over
        // N*H*W rows of C, not three passes over short rows.
        foreach (var (first, last) in AdjacentRuns(Axes))
        {
            long A = 1, B = 1, K = 1;
            for (int i = 0; i < first; i++) A *= shape[i];
            for (int i = last + 1; i < shape.Length; i++) B *= shape[i];
            for (int i = first; i <= last; i++)
            {
                K *= shape[i];
                shape[i] = 1;
            }
            var next = new MxArray((int[])shape.Clone(), work, Allocator.Allocate(A * B * work.Size()), MxArray.RowMajorStrides(shape), 0);
            var v = new Kernel { X = current, O = next, A = A, K = K, B = B, Op = Op };
            if (work == DType.Complex64)
            {
                throw new NotSupportedException($"{Op} is not supported for complex64 arrays.");
            }
            if (Dispatch.IsComputeFloat(work)) Dispatch.Float(work, ref v); else Dispatch.Int(work, ref v);
            if (Op == ReduceOp.And && K == 0)
            {
                // "and" runs as a byte min, whose identity is 255: an empty all() must be a canonical true (1).
                new Span<byte>(next.RawPtr, checked((int)(A * B))).Fill(1);
            }
            if (!ReferenceEquals(current, inputs[0]))
            {
                current.Buffer.Release();
            }
            current = next;
        }
        if (ReferenceEquals(current, inputs[0]))
        {
            o.AllocateData();
            Cast.Run(current, o);
        }
        else
        {
            o.SetData(current.Buffer, MxArray.RowMajorStrides(o.ShapeRef), 0);
        }
    }

    public override bool HasGpuKernel => true;

    public override void EvalGpu(MxArray[] inputs, MxArray[] outputs)
    {
        var x = inputs[0];
        var o = outputs[0];
        // Kernels index through StridedLayout (up to 8 dims after merging): more dims stay on the host.
        if (!GpuOps.Supports(x.DType) || !GpuOps.Supports(o.DType) || x.NDim > StridedLayout.MaxDims)
        {
            EvalCpu(inputs, outputs);
            return;
        }
        bool logical = Op is ReduceOp.And or ReduceOp.Or;
        // and/or reduce canonical bools (NaN and any nonzero true) as a min/max; narrow types compute in 32 bits.
        var ct = GpuOps.ComputeType(logical ? DType.Bool : o.DType);
        var src = logical && x.DType != DType.Bool ? GpuDeviceOperand.ViaBool(x, ct) : GpuDeviceOperand.Of(x, ct);
        var op = Op switch
        {
            ReduceOp.Sum => BinaryOp.Add,
            ReduceOp.Prod => BinaryOp.Multiply,
            ReduceOp.Max or ReduceOp.Or => BinaryOp.Maximum,
            _ => BinaryOp.Minimum,
        };
        var reduced = new bool[x.NDim];
        foreach (int a in Axes)
        {
            reduced[a] = true;
        }
        GpuOps.IntoOutput(o, ct, m => GpuRuntime.Device.Reduce(op, GpuOps.TypeOf(ct), src.Operand, reduced, m));
        src.Release();
    }

    private struct WindowKernel : IFloatVisitor
    {
        public MxArray X, Y;
        public Window Window;
        public bool Max;

        public void Visit<T>() where T : unmanaged, IFloatingPointIeee754<T>, IMinMaxValue<T> =>
            WindowReduce.Extreme(X.Ptr<T>(), Y.Ptr<T>(), Window.OuterShape, Window.OuterStrides, Window.Offsets, Window.Run, Max);
    }

    private struct Kernel : IFloatVisitor, IIntVisitor
    {
        public MxArray X, O;
        public long A, K, B;
        public ReduceOp Op;

        public void Visit<T>() where T : unmanaged, IFloatingPointIeee754<T>, IMinMaxValue<T> => Run<T>();

        void IIntVisitor.Visit<T>() => Run<T>();

        private void Run<T>() where T : unmanaged, INumber<T>, IMinMaxValue<T>
        {
            T* x = X.Ptr<T>(), o = O.Ptr<T>();
            switch (Op)
            {
                case ReduceOp.Sum: Reduction.Run<T, SumReduce<T>>(x, A, K, B, o); break;
                case ReduceOp.Prod: Reduction.Run<T, ProdReduce<T>>(x, A, K, B, o); break;
                case ReduceOp.Max or ReduceOp.Or: Reduction.Run<T, MaxReduce<T>>(x, A, K, B, o); break;
                default: Reduction.Run<T, MinReduce<T>>(x, A, K, B, o); break;
            }
        }
    }

    public override MxArray[] Vjp(MxArray[] primals, MxArray[] cotangents, int[] argnums, MxArray[] outputs)
    {
        var x = primals[0];
        var g = cotangents[0];
        var y = outputs[0];
        switch (Op)
        {
            case ReduceOp.Sum:
                return new[] { Mx.BroadcastTo(g, x.ShapeRef) };
            case ReduceOp.Prod:
                return new[] { Mx.Multiply(Mx.BroadcastTo(g, x.ShapeRef), ProductOfOthers(x)) };
            case ReduceOp.Max or ReduceOp.Min:
                if (Mx.PlacedOnCpu && Dispatch.IsComputeFloat(g.DType) && x.DType == g.DType && y.DType == g.DType && Window.Fits(x.ShapeRef, Axes))
                {
                    return new[] { MxArray.Create(x.ShapeRef, g.DType, new ExtremumGradPrimitive(Axes), x, y, g) };
                }
                return new[] { ExtremumGradPrimitive.Composition(x, y, g, Axes) };
            default:
                return new[] { Mx.ZerosLike(x) };
        }
    }

    public override MxArray[] Jvp(MxArray[] primals, MxArray[] tangents, int[] argnums, MxArray[] outputs)
    {
        var t = tangents[0];
        switch (Op)
        {
            case ReduceOp.Sum:
                // Linear: the same reduction of the tangent.
                return new[] { MxArray.Create(outputs[0].ShapeRef, outputs[0].DType, this, Mx.AsType(t, outputs[0].DType)) };
            case ReduceOp.Max or ReduceOp.Min:
                var x = primals[0];
                var mask = Mx.AsType(Mx.Equal(x, outputs[0]), t.DType);
                var count = Mx.Sum(mask, Axes, keepDims: true);
                return new[] { Mx.Sum(Mx.Divide(Mx.Multiply(mask, t), count), Axes, keepDims: true) };
            case ReduceOp.Prod:
                return new[] { Mx.Sum(Mx.Multiply(t, ProductOfOthers(primals[0])), Axes, keepDims: true) };
            default:
                return new[] { Mx.ZerosLike(outputs[0]) };
        }
    }

    /// <summary>
    /// For each element, the product of the others in its reduction: exclusive products from both ends over the
    /// reduced axes (moved last and flattened), so no division and exact where x has zeros.
    /// </summary>
    private MxArray ProductOfOthers(MxArray x)
    {
        var rest = Enumerable.Range(0, x.NDim).Where(a => !Axes.Contains(a)).ToArray();
        var perm = rest.Concat(Axes).ToArray();
        var moved = Mx.Transpose(x, perm);
        int k = Axes.Aggregate(1, (p, a) => p * x.ShapeRef[a]);
        var flat = Mx.Reshape(moved, rest.Select(a => x.ShapeRef[a]).Append(k).ToArray());
        var others = Mx.Multiply(Mx.Cumprod(flat, -1, inclusive: false), Mx.Cumprod(flat, -1, reverse: true, inclusive: false));
        var inverse = new int[perm.Length];
        for (int i = 0; i < perm.Length; i++) inverse[perm[i]] = i;
        return Mx.Transpose(Mx.Reshape(others, moved.ShapeRef), inverse);
    }

    public override MxArray[]? Vmap(MxArray[] inputs, bool[] batched, MxArray[] outputs)
    {
        var x = inputs[0];
        var shape = new[] { x.ShapeRef[0] }.Concat(outputs[0].ShapeRef).ToArray();
        return new[] { MxArray.Create(shape, outputs[0].DType, new ReducePrimitive(Op, Axes.Select(a => a + 1).ToArray()), x) };
    }
}

/// <summary>argmax / argmin along one axis, giving uint32 indices.</summary>
internal sealed unsafe class ArgReducePrimitive : Primitive
{
    public ArgReducePrimitive(bool max, int axis)
    {
        Max = max;
        Axis = axis;
    }

    public bool Max { get; }
    public int Axis { get; }

    public override string Name => Max ? "ArgMax" : "ArgMin";

    public override bool IsEquivalent(Primitive other) => other is ArgReducePrimitive p && p.Max == Max && p.Axis == Axis;

    public override void EvalCpu(MxArray[] inputs, MxArray[] outputs)
    {
        var x0 = inputs[0];
        DType work = x0.DType switch
        {
            DType.Float16 or DType.BFloat16 => DType.Float32,
            DType.Bool => DType.UInt8,
            _ => x0.DType,
        };
        var x = x0.DType == work && x0.IsRowContiguous ? x0 : Cast.Materialize(x0, work);
        var o = outputs[0];
        o.AllocateData();
        long A = 1, B = 1;
        for (int i = 0; i < Axis; i++) A *= x.ShapeRef[i];
        for (int i = Axis + 1; i < x.NDim; i++) B *= x.ShapeRef[i];
        var v = new Kernel { X = x, O = o, A = A, K = x.ShapeRef[Axis], B = B, Max = Max };
        if (Dispatch.IsComputeFloat(work)) Dispatch.Float(work, ref v); else Dispatch.Int(work, ref v);
        if (!ReferenceEquals(x, x0))
        {
            x.Buffer.Release();
        }
    }

    public override bool HasGpuKernel => true;

    public override void EvalGpu(MxArray[] inputs, MxArray[] outputs)
    {
        var x = inputs[0];
        if (!GpuOps.Supports(x.DType) || x.NDim > StridedLayout.MaxDims)
        {
            EvalCpu(inputs, outputs);
            return;
        }
        // Compared in a wider type that keeps the order: halves in float32, narrow integers and bools in 32 bits.
        var ct = GpuOps.ComputeType(x.DType);
        var src = GpuDeviceOperand.Of(x, ct);
        GpuRuntime.Device.ArgReduce(Max, GpuOps.TypeOf(ct), src.Operand, Axis, GpuRuntime.AllocateOutput(outputs[0]));
        src.Release();
    }

    private struct Kernel : IFloatVisitor, IIntVisitor
    {
        public MxArray X, O;
        public long A, K, B;
        public bool Max;

        public void Visit<T>() where T : unmanaged, IFloatingPointIeee754<T>, IMinMaxValue<T> => Reduction.ArgReduce(X.Ptr<T>(), A, K, B, O.Ptr<uint>(), Max);

        void IIntVisitor.Visit<T>() => Reduction.ArgReduce(X.Ptr<T>(), A, K, B, O.Ptr<uint>(), Max);
    }

    public override MxArray[] Vjp(MxArray[] primals, MxArray[] cotangents, int[] argnums, MxArray[] outputs) => new[] { Mx.ZerosLike(primals[0]) };

    public override MxArray[] Jvp(MxArray[] primals, MxArray[] tangents, int[] argnums, MxArray[] outputs) => new[] { Mx.ZerosLike(outputs[0]) };

    public override MxArray[]? Vmap(MxArray[] inputs, bool[] batched, MxArray[] outputs) =>
        new[] { MxArray.Create(new[] { inputs[0].ShapeRef[0] }.Concat(outputs[0].ShapeRef).ToArray(), DType.UInt32, new ArgReducePrimitive(Max, Axis + 1), inputs[0]) };
}

/// <summary>
/// A reduction over axes that keep the last one, seen as windows (for <see cref="WindowReduce"/>): the kept axes but
/// the last give the outer positions, the reduced axes the offsets inside a window, the last axis a contiguous run.
/// Taken only where the run fills at least one vector and a window has at most 4096 offsets.
/// </summary>
internal readonly record struct Window(int[] OuterShape, long[] OuterStrides, long[] Offsets, int Run)
{
    public static bool Fits(int[] shape, int[] axes)
    {
        int nd = shape.Length;
        if (nd == 0 || axes.Length == 0 || axes.Contains(nd - 1) || shape[nd - 1] < 8) return false;
        long size = 1;
        foreach (int a in axes) size *= shape[a];
        return size > 0 && size <= 4096;
    }

    /// <summary>The window of a reduction that <see cref="Fits"/>.</summary>
    public static Window Of(int[] shape, int[] axes)
    {
        int nd = shape.Length;
        long size = 1;
        foreach (int a in axes) size *= shape[a];
        var strides = MxArray.RowMajorStrides(shape);
        var kept = Enumerable.Range(0, nd - 1).Where(d => !axes.Contains(d)).ToArray();
        var reduced = axes.OrderBy(a => a).ToArray();
        var offsets = new long[size];
        for (long w = 0; w < size; w++)
        {
            long rest = w, offset = 0;
            for (int i = reduced.Length - 1; i >= 0; i--)
            {
                offset += rest % shape[reduced[i]] * strides[reduced[i]];
                rest /= shape[reduced[i]];
            }
            offsets[w] = offset;
        }
        return new Window(kept.Select(d => shape[d]).ToArray(), kept.Select(d => strides[d]).ToArray(), offsets, shape[nd - 1]);
    }
}

/// <summary>
/// The gradient of max/min over a window of axes on the CPU in one kernel (<see cref="WindowReduce.ExtremeGrad{T}"/>):
/// inputs x, the reduction y and its cotangent g (both with the reduced axes kept as size 1). It computes what
/// <see cref="Composition"/> does, whose derivatives and batching it takes. A 2x2 max-pool's gradient was four passes
/// over the activations (equal, cast, count, multiply).
/// </summary>
internal sealed unsafe class ExtremumGradPrimitive : Primitive
{
    public ExtremumGradPrimitive(int[] axes) => Axes = axes;

    public int[] Axes { get; }

    public override string Name => "ExtremumGrad";

    public override bool IsEquivalent(Primitive other) => other is ExtremumGradPrimitive p && p.Axes.SequenceEqual(Axes);

    /// <summary>
    /// The cotangent shared among the tied extremes: divided on the reduced shape, then spread by the mask (a window
    /// with no match, NaN, gives 0 * (g / 0) = NaN, as MLX's).
    /// </summary>
    internal static MxArray Composition(MxArray x, MxArray y, MxArray g, int[] axes)
    {
        var mask = Mx.AsType(Mx.Equal(x, y), g.DType);
        var count = Mx.Sum(mask, axes, keepDims: true);
        return Mx.Multiply(mask, Mx.Divide(g, count));
    }

    public override void EvalCpu(MxArray[] inputs, MxArray[] outputs)
    {
        var o = outputs[0];
        var x = Cast.Contiguous(inputs[0]);
        var y = Cast.Contiguous(inputs[1]);
        var g = Cast.Contiguous(inputs[2]);
        o.AllocateData();
        var v = new Kernel { X = x, Y = y, G = g, O = o, Window = Window.Of(x.ShapeRef, Axes) };
        Dispatch.Float(o.DType, ref v);
        foreach (var (copy, input) in new[] { (x, inputs[0]), (y, inputs[1]), (g, inputs[2]) })
        {
            if (!ReferenceEquals(copy, input)) copy.Buffer.Release();
        }
    }

    private struct Kernel : IFloatVisitor
    {
        public MxArray X, Y, G, O;
        public Window Window;

        public void Visit<T>() where T : unmanaged, IFloatingPointIeee754<T>, IMinMaxValue<T> =>
            WindowReduce.ExtremeGrad(X.Ptr<T>(), Y.Ptr<T>(), G.Ptr<T>(), O.Ptr<T>(), Window.OuterShape, Window.OuterStrides, Window.Offsets, Window.Run);
    }

    public override MxArray[] Vjp(MxArray[] primals, MxArray[] cotangents, int[] argnums, MxArray[] outputs) =>
        RuleHelpers.VjpOfComposition(a => Composition(a[0], a[1], a[2], Axes), primals, cotangents, argnums);

    public override MxArray[] Jvp(MxArray[] primals, MxArray[] tangents, int[] argnums, MxArray[] outputs) =>
        RuleHelpers.JvpOfComposition(a => Composition(a[0], a[1], a[2], Axes), primals, tangents, argnums);

    public override MxArray[]? Vmap(MxArray[] inputs, bool[] batched, MxArray[] outputs)
    {
        // The composition on a leading batch axis (unbatched inputs broadcast along it).
        var lifted = inputs.Select((a, i) => batched[i] ? a : Mx.ExpandDims(a, 0)).ToArray();
        return new[] { Composition(lifted[0], lifted[1], lifted[2], Axes.Select(a => a + 1).ToArray()) };
    }
}
