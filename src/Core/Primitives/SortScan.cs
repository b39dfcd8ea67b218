using System.Numerics;
using Mlx.Kernels;
using Mlx.Kernels.Gpu;

namespace Mlx;

/// <summary>Moves one axis last into a row-major scratch array, so row kernels see contiguous rows.</summary>
internal static class AxisLast
{
    public static int[] Perm(int ndim, int axis)
    {
        var perm = Enumerable.Range(0, ndim).Where(i => i != axis).Append(axis).ToArray();
        return perm;
    }

    public static MxArray Gather(MxArray x, int axis, DType dtype)
    {
        var perm = Perm(x.NDim, axis);
        var shape = perm.Select(p => x.ShapeRef[p]).ToArray();
        var strides = perm.Select(p => x.Strides[p]).ToArray();
        var view = new MxArray(shape, x.DType, x.Buffer, strides, x.Offset);
        return Cast.Materialize(view, dtype);
    }

    /// <summary>Makes <paramref name="o"/> a view of the axis-last <paramref name="scratch"/> in the original axis order.</summary>
    public static void Restore(MxArray scratch, MxArray o, int axis)
    {
        var perm = Perm(o.NDim, axis);
        var strides = new long[o.NDim];
        for (int i = 0; i < perm.Length; i++)
        {
            strides[perm[i]] = scratch.Strides[i];
        }
        o.SetData(scratch.Buffer, strides, 0);
    }
}

/// <summary>Sort or argsort along an axis; NaN sorts last; argsort is stable.</summary>
internal sealed unsafe class SortPrimitive : Primitive
{
    public SortPrimitive(int axis, bool indices)
    {
        Axis = axis;
        Indices = indices;
    }

    public int Axis { get; }
    public bool Indices { get; }

    public override string Name => Indices ? "ArgSort" : "Sort";

    public override bool IsEquivalent(Primitive other) => other is SortPrimitive p && p.Axis == Axis && p.Indices == Indices;

    public override void EvalCpu(MxArray[] inputs, MxArray[] outputs)
    {
        var x = inputs[0];
        DType work = x.DType switch { DType.Float16 or DType.BFloat16 => DType.Float32, DType.Bool => DType.UInt8, _ => x.DType };
        if (work == DType.Complex64) throw new NotSupportedException("Sorting complex64 arrays is not supported.");
        var scratch = AxisLast.Gather(x, Axis, work);
        long n = x.ShapeRef.Length == 0 ? 1 : x.ShapeRef[Axis];
        long rows = n == 0 ? 0 : x.Size / n;
        MxArray result;
        if (Indices)
        {
            result = new MxArray(scratch.ShapeRef, DType.UInt32, Allocator.Allocate(scratch.Size * 4), scratch.Strides, 0);
        }
        else
        {
            result = scratch;
        }
        var v = new Kernel { X = scratch, O = result, Rows = rows, N = n, Indices = Indices };
        if (Dispatch.IsComputeFloat(work)) Dispatch.Float(work, ref v); else Dispatch.Int(work, ref v);
        if (Indices)
        {
            scratch.Buffer.Release();
        }
        else if (work != x.DType)
        {
            var back = Cast.Materialize(result, x.DType);
            result.Buffer.Release();
            result = back;
        }
        AxisLast.Restore(result, outputs[0], Axis);
    }

    public override bool HasGpuKernel => true;

    /// <summary>
    /// A stable merge sort of every row at once on the device (see Mlx.Kernels.Gpu.SortKernels), reading the input at
    /// its strides and writing the output in place of the axis: no axis-last copies.
    /// </summary>
    public override void EvalGpu(MxArray[] inputs, MxArray[] outputs)
    {
        var x = inputs[0];
        var o = outputs[0];
        if (!GpuOps.Supports(x.DType) || x.NDim == 0)
        {
            EvalCpu(inputs, outputs);
            return;
        }
        var dst = GpuRuntime.AllocateOutput(o);
        var perm = AxisLast.Perm(x.NDim, Axis);
        var shape = perm.Select(p => x.ShapeRef[p]).ToArray();
        var from = Kernels.Gpu.GpuDevice.LayoutOf(shape, perm.Select(p => x.Strides[p]).ToArray(), x.Offset);
        var to = Kernels.Gpu.GpuDevice.LayoutOf(shape, perm.Select(p => o.Strides[p]).ToArray(), 0);
        GpuRuntime.Device.SortRows(GpuOps.TypeOf(x.DType), GpuRuntime.Memory(x), from, dst, to, x.Size, x.ShapeRef[Axis], Indices);
    }

    private struct Kernel : IFloatVisitor, IIntVisitor
    {
        public MxArray X, O;
        public long Rows, N;
        public bool Indices;

        public void Visit<T>() where T : unmanaged, IFloatingPointIeee754<T>, IMinMaxValue<T> => Run<T>();

        void IIntVisitor.Visit<T>() => Run<T>();

        private void Run<T>() where T : unmanaged, INumber<T>
        {
            nint px = (nint)X.Ptr<T>(), po = (nint)O.RawPtr;
            long n = N;
            bool indices = Indices;
            // In place for values (the scratch is the result); positions into the uint32 output.
            Selection.SortRows((T*)px, indices ? null : (T*)px, indices ? (uint*)po : null, Rows, (int)n);
        }
    }

    // Sorting permutes: values follow the (stable) argsort; indices are piecewise constant.
    public override MxArray[] Vjp(MxArray[] primals, MxArray[] cotangents, int[] argnums, MxArray[] outputs) =>
        new[] { Indices ? Mx.ZerosLike(primals[0]) : Mx.PutAlongAxisRaw(Mx.ZerosLike(primals[0]), Mx.ArgSort(primals[0], Axis), cotangents[0], Axis, ScatterMode.None) };

    public override MxArray[] Jvp(MxArray[] primals, MxArray[] tangents, int[] argnums, MxArray[] outputs) =>
        new[] { Indices ? Mx.ZerosLike(outputs[0]) : Mx.TakeAlongAxisRaw(tangents[0], Mx.ArgSort(primals[0], Axis), Axis) };

    public override MxArray[]? Vmap(MxArray[] inputs, bool[] batched, MxArray[] outputs) =>
        new[] { MxArray.Create(inputs[0].ShapeRef, outputs[0].DType, new SortPrimitive(Axis + 1, Indices), inputs[0]) };
}

public enum ScanOp
{
    Sum, Prod, Max, Min, LogAddExp,
}

/// <summary>Cumulative reductions along an axis (cumsum, cumprod, cummax, cummin, logcumsumexp).</summary>
internal sealed unsafe class ScanPrimitive : Primitive
{
    public ScanPrimitive(ScanOp op, int axis, bool reverse, bool inclusive)
    {
        Op = op;
        Axis = axis;
        Reverse = reverse;
        Inclusive = inclusive;
    }

    public ScanOp Op { get; }
    public int Axis { get; }
    public bool Reverse { get; }
    public bool Inclusive { get; }

    public override string Name => "Cum" + Op;

    public override bool IsEquivalent(Primitive other) =>
        other is ScanPrimitive p && p.Op == Op && p.Axis == Axis && p.Reverse == Reverse && p.Inclusive == Inclusive;

    public override void EvalCpu(MxArray[] inputs, MxArray[] outputs)
    {
        var o = outputs[0];
        if (o.DType is DType.Float16 or DType.BFloat16)
        {
            Dispatch.ViaFloat32(inputs, outputs, EvalCpu);
            return;
        }
        long n = o.ShapeRef[Axis];
        long inner = 1;
        for (int d = Axis + 1; d < o.NDim; d++) inner *= o.ShapeRef[d];
        MxArray scratch;
        if (inner > 1)
        {
            // Not the last axis: scan whole rows of the trailing dims at once, in place of a row-major copy (the
            // same order of operations per element as a scan along a gathered axis, without the two transposes).
            scratch = Cast.Materialize(inputs[0], o.DType);
        }
        else
        {
            scratch = AxisLast.Gather(inputs[0], Axis, o.DType);
        }
        long rows = n == 0 ? 0 : o.Size / n / inner;
        var v = new Kernel { X = scratch, Rows = rows, N = n, Inner = inner, Op = Op, Reverse = Reverse, Inclusive = Inclusive };
        if (Dispatch.IsComputeFloat(o.DType)) Dispatch.Float(o.DType, ref v); else Dispatch.Int(o.DType, ref v);
        if (o.DType == DType.Bool)
        {
            // An exclusive cummin starts from the byte maximum (255): bools must stay 0 or 1.
            var bytes = new Span<byte>(scratch.RawPtr, checked((int)scratch.Size));
            for (int i = 0; i < bytes.Length; i++) bytes[i] = bytes[i] != 0 ? (byte)1 : (byte)0;
        }
        if (inner > 1) o.SetData(scratch.Buffer, scratch.Strides, 0);
        else AxisLast.Restore(scratch, o, Axis);
    }

    public override bool HasGpuKernel => true;

    public override void EvalGpu(MxArray[] inputs, MxArray[] outputs)
    {
        var x = inputs[0];
        var o = outputs[0];
        if (!GpuOps.Supports(x.DType) || !GpuOps.Supports(o.DType) || (Op == ScanOp.LogAddExp && !o.DType.IsInexact()) || x.NDim > StridedLayout.MaxDims)
        {
            EvalCpu(inputs, outputs);
            return;
        }
        // Narrow types scan in 32 bits (wrapping sums and products agree modulo their width), halves in float32.
        var ct = GpuOps.ComputeType(o.DType);
        var src = GpuDeviceOperand.Of(x, ct);
        var op = Op switch
        {
            ScanOp.Sum => BinaryOp.Add,
            ScanOp.Prod => BinaryOp.Multiply,
            ScanOp.Max => BinaryOp.Maximum,
            ScanOp.Min => BinaryOp.Minimum,
            _ => BinaryOp.LogAddExp,
        };
        GpuOps.IntoOutput(o, ct, m => GpuRuntime.Device.Scan(op, GpuOps.TypeOf(ct), GpuOps.TypeOf(o.DType), src.Operand, Axis, Reverse, Inclusive, m));
        src.Release();
    }

    private struct Kernel : IFloatVisitor, IIntVisitor
    {
        public MxArray X;
        public long Rows, N, Inner;
        public ScanOp Op;
        public bool Reverse, Inclusive;

        public void Visit<T>() where T : unmanaged, IFloatingPointIeee754<T>, IMinMaxValue<T>
        {
            if (Op == ScanOp.LogAddExp)
            {
                Run<T, LogAddExpOp<T>>(T.NegativeInfinity);
                return;
            }
            // MLX starts exclusive float max/min scans from -inf/+inf, not the finite limits.
            if (Op == ScanOp.Max)
            {
                Run<T, MaximumOp<T>>(T.NegativeInfinity);
                return;
            }
            if (Op == ScanOp.Min)
            {
                Run<T, MinimumOp<T>>(T.PositiveInfinity);
                return;
            }
            RunNumeric<T>();
        }

        void IIntVisitor.Visit<T>() => RunNumeric<T>();

        private void RunNumeric<T>() where T : unmanaged, INumber<T>, IMinMaxValue<T>
        {
            switch (Op)
            {
                case ScanOp.Sum: Run<T, AddOp<T>>(T.Zero); break;
                case ScanOp.Prod: Run<T, MultiplyOp<T>>(T.One); break;
                case ScanOp.Max: Run<T, MaximumOp<T>>(T.MinValue); break;
                case ScanOp.Min: Run<T, MinimumOp<T>>(T.MaxValue); break;
                default: throw new NotSupportedException($"cum{Op} is not defined for integer arrays.");
            }
        }

        private void Run<T, TOp>(T identity) where T : unmanaged where TOp : IBinaryOp<T, T>
        {
            nint px = (nint)X.Ptr<T>();
            long n = N, inner = Inner;
            bool reverse = Reverse, inclusive = Inclusive;
            if (inner == 1)
            {
                Parallelism.For(Rows, n * 2, (s, e) =>
                {
                    long r = s;
                    for (; r + 4 <= e; r += 4) ScanRows4<T, TOp>((T*)px + r * n, n, identity, reverse, inclusive);
                    for (; r < e; r++) ScanRow<T, TOp>((T*)px + r * n, n, identity, reverse, inclusive);
                });
                return;
            }
            // (rows, n, inner) row-major: step i combines the trailing row i with the running row, vector-wise,
            // split across threads by columns of the trailing rows.
            long columns = Rows * inner;
            Parallelism.For(columns, n * 2, (s, e) =>
            {
                for (long c = s; c < e;)
                {
                    long r = c / inner, col = c % inner, len = Math.Min(e - c, inner - col);
                    T* block = (T*)px + r * n * inner + col;
                    ScanColumns<T, TOp>(block, n, inner, len, identity, reverse, inclusive);
                    c += len;
                }
            });
        }

        private static void ScanRow<T, TOp>(T* row, long n, T identity, bool reverse, bool inclusive) where T : unmanaged where TOp : IBinaryOp<T, T>
        {
            T acc = identity;
            for (long i = 0; i < n; i++)
            {
                long j = reverse ? n - 1 - i : i;
                T v = row[j];
                if (inclusive)
                {
                    acc = i == 0 ? v : TOp.Apply(acc, v);
                    row[j] = acc;
                }
                else
                {
                    row[j] = acc;
                    acc = i == 0 ? v : TOp.Apply(acc, v);
                }
            }
        }

        // Four rows (n apart) at once, each in its own order as ScanRow: one row's chain of dependent operations
        // would leave the core waiting on each add's latency.
        private static void ScanRows4<T, TOp>(T* row, long n, T identity, bool reverse, bool inclusive) where T : unmanaged where TOp : IBinaryOp<T, T>
        {
            T a0 = identity, a1 = identity, a2 = identity, a3 = identity;
            for (long i = 0; i < n; i++)
            {
                T* p = row + (reverse ? n - 1 - i : i);
                T v0 = p[0], v1 = p[n], v2 = p[2 * n], v3 = p[3 * n];
                if (!inclusive)
                {
                    p[0] = a0; p[n] = a1; p[2 * n] = a2; p[3 * n] = a3;
                }
                if (i == 0)
                {
                    (a0, a1, a2, a3) = (v0, v1, v2, v3);
                }
                else
                {
                    a0 = TOp.Apply(a0, v0); a1 = TOp.Apply(a1, v1); a2 = TOp.Apply(a2, v2); a3 = TOp.Apply(a3, v3);
                }
                if (inclusive)
                {
                    p[0] = a0; p[n] = a1; p[2 * n] = a2; p[3 * n] = a3;
                }
            }
        }

        // Columns [0, len) of n trailing rows that are `inner` apart, scanned in place along the rows.
        private static void ScanColumns<T, TOp>(T* block, long n, long inner, long len, T identity, bool reverse, bool inclusive) where T : unmanaged where TOp : IBinaryOp<T, T>
        {
            if (n == 0) return;
            int l = (int)len;
            if (inclusive)
            {
                for (long i = 1; i < n; i++)
                {
                    T* prev = block + (reverse ? n - i : i - 1) * inner, cur = block + (reverse ? n - 1 - i : i) * inner;
                    Combine<T, TOp>(prev, cur, cur, l);
                }
                return;
            }
            // Exclusive: each row becomes the running value before it; the previous row's input is kept aside.
            var held = new T[l];
            var next = new T[l];
            T* first = block + (reverse ? n - 1 : 0) * inner;
            new Span<T>(first, l).CopyTo(held);
            new Span<T>(first, l).Fill(identity);
            fixed (T* h = held, nx = next)
            {
                for (long i = 1; i < n; i++)
                {
                    T* cur = block + (reverse ? n - 1 - i : i) * inner;
                    new Span<T>(cur, l).CopyTo(new Span<T>(nx, l));
                    new Span<T>(h, l).CopyTo(new Span<T>(cur, l)); // the running value so far (inclusive of row i - 1)
                    Combine<T, TOp>(h, nx, h, l);
                }
            }
        }

        private static void Combine<T, TOp>(T* a, T* b, T* o, int len) where T : unmanaged where TOp : IBinaryOp<T, T>
        {
            if (TOp.HasSpanForms)
            {
                TOp.VV(new ReadOnlySpan<T>(a, len), new ReadOnlySpan<T>(b, len), new Span<T>(o, len));
                return;
            }
            for (int k = 0; k < len; k++) o[k] = TOp.Apply(a[k], b[k]);
        }
    }

    public override MxArray[] Vjp(MxArray[] primals, MxArray[] cotangents, int[] argnums, MxArray[] outputs)
    {
        if (Op == ScanOp.Sum)
        {
            return new[] { Mx.Cumsum(cotangents[0], Axis, !Reverse, Inclusive) };
        }
        var d = Jacobian(primals[0], outputs[0]);
        var g = Mx.ExpandDims(Mx.MoveAxis(cotangents[0], Axis, -1), -2);
        return new[] { Mx.MoveAxis(Mx.Sum(Mx.Multiply(d, g), -1), -1, Axis) };
    }

    public override MxArray[] Jvp(MxArray[] primals, MxArray[] tangents, int[] argnums, MxArray[] outputs)
    {
        if (Op == ScanOp.Sum)
        {
            return new[] { MxArray.Create(outputs[0].ShapeRef, outputs[0].DType, this, Mx.AsType(tangents[0], outputs[0].DType)) };
        }
        var d = Jacobian(primals[0], outputs[0]);
        var t = Mx.ExpandDims(Mx.MoveAxis(tangents[0], Axis, -1), -1);
        return new[] { Mx.MoveAxis(Mx.Sum(Mx.Multiply(d, t), -2), -1, Axis) };
    }

    public override MxArray[]? Vmap(MxArray[] inputs, bool[] batched, MxArray[] outputs) =>
        new[] { MxArray.Create(new[] { inputs[0].ShapeRef[0] }.Concat(outputs[0].ShapeRef).ToArray(), outputs[0].DType, new ScanPrimitive(Op, Axis + 1, Reverse, Inclusive), inputs[0]) };

    /// <summary>
    /// dy_i/dx_k of a product, max, min or logaddexp scan as a (..., n(k), n(i)) matrix, the scanned axis moved last.
    /// It costs n^2 per row but needs no division, so it is exact at zeros of a product (MLX's [2, 0, 2, 2, 3] case),
    /// and ties of a max or min share the derivative, as the max and min reductions do.
    /// </summary>
    private MxArray Jacobian(MxArray x, MxArray y)
    {
        int n = x.ShapeRef[Axis];
        var xm = Mx.MoveAxis(x, Axis, -1);
        var xk = Mx.ExpandDims(xm, -1);                       // (..., n(k), 1)
        var yi = Mx.ExpandDims(Mx.MoveAxis(y, Axis, -1), -2);  // (..., 1, n(i))
        var k = Mx.Reshape(Mx.Arange(n), new[] { n, 1 });
        var i = Mx.Reshape(Mx.Arange(n), new[] { 1, n });
        // Whether x_k enters y_i.
        var inScan = Reverse ? (Inclusive ? Mx.GreaterEqual(k, i) : Mx.Greater(k, i)) : (Inclusive ? Mx.LessEqual(k, i) : Mx.Less(k, i));
        var zero = Mx.Zeros(System.Array.Empty<int>(), x.DType);
        switch (Op)
        {
            case ScanOp.Prod:
                // Row k: the scan of x with x_k replaced by 1.
                var rows = Mx.Where(Mx.Equal(k, i), Mx.Ones(System.Array.Empty<int>(), x.DType), Mx.ExpandDims(xm, -2));
                return Mx.Where(inScan, Mx.Cumprod(rows, -1, Reverse, Inclusive), zero);
            case ScanOp.LogAddExp:
                return Mx.Where(inScan, Mx.Exp(Mx.Subtract(xk, yi)), zero);
            default:
                var hits = Mx.AsType(Mx.LogicalAnd(inScan, Mx.Equal(xk, yi)), x.DType);
                return Mx.Divide(hits, Mx.Maximum(Mx.Sum(hits, -2, keepDims: true), Mx.Ones(System.Array.Empty<int>(), x.DType)));
        }
    }
}
