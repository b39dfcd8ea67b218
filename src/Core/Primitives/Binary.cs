using System.Numerics;
using Mlx.Kernels;

namespace Mlx;

/// <summary>Elementwise binary ops over operands already broadcast to one shape and cast to one dtype.</summary>
internal sealed unsafe class BinaryPrimitive : Primitive
{
    public BinaryPrimitive(BinaryOp op) => Op = op;

    public BinaryOp Op { get; }

    public override string Name => Op.ToString();

    public static bool IsComparison(BinaryOp op) => op >= BinaryOp.Equal;

    public override bool IsEquivalent(Primitive other) => other is BinaryPrimitive p && p.Op == Op;

    public override void EvalCpu(MxArray[] inputs, MxArray[] outputs)
    {
        var a = inputs[0];
        var b = inputs[1];
        var o = outputs[0];
        DType t = a.DType;
        if (t is DType.Float16 or DType.BFloat16)
        {
            if (o.DType == t && HalfArithmetic.Supports(Op) && Dispatch.DirectStride(a, o) is long strideA && Dispatch.DirectStride(b, o) is long strideB)
            {
                o.AllocateData();
                HalfArithmetic.Run(Op, (ushort*)a.RawPtr, strideA, (ushort*)b.RawPtr, strideB, (ushort*)o.RawPtr, o.Size, t == DType.BFloat16);
                return;
            }
            var op = Op;
            if (!Dispatch.TryTiledViaFloat32(inputs, o, (p, st, q, len) => FloatKernel.Run(op, p[0], new[] { st[0] }, p[1], new[] { st[1] }, q, new[] { len })))
                Dispatch.ViaFloat32(inputs, outputs, (i, o2) => EvalCpu(i, o2));
            return;
        }
        o.AllocateData();
        if (o.Size == 0)
        {
            return;
        }
        if (t == DType.Complex64)
        {
            ComplexKernel(a, b, o);
            return;
        }
        if (t == DType.Bool && !IsComparison(Op))
        {
            var bv = new IntKernel { A = a, B = b, O = o, Op = BoolOp(Op) };
            Dispatch.Int(DType.UInt8, ref bv);
            return;
        }
        if (Dispatch.IsComputeFloat(t))
        {
            var v = new FloatKernel { A = a, B = b, O = o, Op = Op };
            Dispatch.Float(t, ref v);
        }
        else
        {
            var v = new IntKernel { A = a, B = b, O = o, Op = Op };
            Dispatch.Int(t, ref v);
        }
    }

    // bool arithmetic is logic: + and max are "or", * and min are "and".
    private static BinaryOp BoolOp(BinaryOp op) => op switch
    {
        BinaryOp.Add or BinaryOp.Maximum or BinaryOp.LogicalOr or BinaryOp.BitwiseOr => BinaryOp.BitwiseOr,
        BinaryOp.Multiply or BinaryOp.Minimum or BinaryOp.LogicalAnd or BinaryOp.BitwiseAnd => BinaryOp.BitwiseAnd,
        BinaryOp.BitwiseXor or BinaryOp.NotEqual => BinaryOp.BitwiseXor,
        _ => throw new NotSupportedException($"{op} is not defined for bool arrays."),
    };

    public override bool HasGpuKernel => true;

    public override void EvalGpu(MxArray[] inputs, MxArray[] outputs)
    {
        var a = inputs[0];
        var b = inputs[1];
        var o = outputs[0];
        DType t = a.DType;
        if (t == DType.Complex64 && Mlx.Kernels.Gpu.GpuDevice.HasComplexKernel(Op))
        {
            var ca = GpuOps.Operand(a, t);
            var cb = GpuOps.Operand(b, t);
            GpuRuntime.Device.ComplexBinary(Op, ca.Memory, ca.Scalar, cb.Memory, cb.Scalar, GpuRuntime.AllocateOutput(o), o.Size);
            GpuOps.Release(ca);
            GpuOps.Release(cb);
            return;
        }
        if (!GpuOps.Supports(t))
        {
            EvalCpu(inputs, outputs);
            return;
        }
        var op = Op;
        if (t == DType.Bool && !IsComparison(op))
        {
            op = BoolOp(op);
        }
        var device = GpuRuntime.Device;
        var ct = GpuOps.ComputeType(t);
        var pa = GpuOps.Operand(a, ct);
        var pb = GpuOps.Operand(b, ct);
        long n = o.Size;
        if (IsComparison(op))
        {
            device.Binary(op, GpuOps.TypeOf(ct), pa.Memory, pa.Scalar, pb.Memory, pb.Scalar, GpuRuntime.AllocateOutput(o), n);
        }
        else
        {
            GpuOps.IntoOutput(o, ct, m => device.Binary(op, GpuOps.TypeOf(ct), pa.Memory, pa.Scalar, pb.Memory, pb.Scalar, m, n));
        }
        GpuOps.Release(pa);
        GpuOps.Release(pb);
    }

    private struct FloatKernel : IFloatVisitor
    {
        public MxArray A, B, O;
        public BinaryOp Op;

        public void Visit<T>() where T : unmanaged, IFloatingPointIeee754<T>, IMinMaxValue<T> =>
            Run(Op, A.Ptr<T>(), A.Strides, B.Ptr<T>(), B.Strides, O.RawPtr, O.ShapeRef);

        /// <summary>The op over strided operands into a row-major output (T, or bool for comparisons).</summary>
        public static void Run<T>(BinaryOp op, T* a, long[] sa, T* b, long[] sb, void* output, int[] shape) where T : unmanaged, IFloatingPointIeee754<T>, IMinMaxValue<T>
        {
            T* o = (T*)output;
            bool* ob = (bool*)output;
            switch (op)
            {
                case BinaryOp.Add: Elementwise.Binary<T, T, AddOp<T>>(a, sa, b, sb, o, shape); break;
                case BinaryOp.Subtract: Elementwise.Binary<T, T, SubtractOp<T>>(a, sa, b, sb, o, shape); break;
                case BinaryOp.Multiply: Elementwise.Binary<T, T, MultiplyOp<T>>(a, sa, b, sb, o, shape); break;
                case BinaryOp.Divide: Elementwise.Binary<T, T, DivideOp<T>>(a, sa, b, sb, o, shape); break;
                case BinaryOp.FloorDivide: Elementwise.Binary<T, T, FloorDivideFloatOp<T>>(a, sa, b, sb, o, shape); break;
                case BinaryOp.Remainder: Elementwise.Binary<T, T, RemainderFloatOp<T>>(a, sa, b, sb, o, shape); break;
                case BinaryOp.Power: Elementwise.Binary<T, T, PowerFloatOp<T>>(a, sa, b, sb, o, shape); break;
                case BinaryOp.Maximum: Elementwise.Binary<T, T, MaximumOp<T>>(a, sa, b, sb, o, shape); break;
                case BinaryOp.Minimum: Elementwise.Binary<T, T, MinimumOp<T>>(a, sa, b, sb, o, shape); break;
                case BinaryOp.LogAddExp: Elementwise.Binary<T, T, LogAddExpOp<T>>(a, sa, b, sb, o, shape); break;
                case BinaryOp.ArcTan2: Elementwise.Binary<T, T, Atan2Op<T>>(a, sa, b, sb, o, shape); break;
                case BinaryOp.Equal: Elementwise.Binary<T, bool, EqualOp<T>>(a, sa, b, sb, ob, shape); break;
                case BinaryOp.NotEqual: Elementwise.Binary<T, bool, NotEqualOp<T>>(a, sa, b, sb, ob, shape); break;
                case BinaryOp.Less: Elementwise.Binary<T, bool, LessOp<T>>(a, sa, b, sb, ob, shape); break;
                case BinaryOp.LessEqual: Elementwise.Binary<T, bool, LessEqualOp<T>>(a, sa, b, sb, ob, shape); break;
                case BinaryOp.Greater: Elementwise.Binary<T, bool, GreaterOp<T>>(a, sa, b, sb, ob, shape); break;
                case BinaryOp.GreaterEqual: Elementwise.Binary<T, bool, GreaterEqualOp<T>>(a, sa, b, sb, ob, shape); break;
                case BinaryOp.EqualNan: Elementwise.Binary<T, bool, EqualNanOp<T>>(a, sa, b, sb, ob, shape); break;
                default: throw new NotSupportedException($"{op} is not defined for {typeof(T).Name} arrays.");
            }
        }
    }

    private struct IntKernel : IIntVisitor
    {
        public MxArray A, B, O;
        public BinaryOp Op;

        public void Visit<T>() where T : unmanaged, IBinaryInteger<T>, IMinMaxValue<T>
        {
            T* a = A.Ptr<T>(), b = B.Ptr<T>();
            long[] sa = A.Strides, sb = B.Strides;
            int[] shape = O.ShapeRef;
            T* o = O.Ptr<T>();
            bool* ob = O.Ptr<bool>();
            switch (Op)
            {
                case BinaryOp.Add: Elementwise.Binary<T, T, AddOp<T>>(a, sa, b, sb, o, shape); break;
                case BinaryOp.Subtract: Elementwise.Binary<T, T, SubtractOp<T>>(a, sa, b, sb, o, shape); break;
                case BinaryOp.Multiply: Elementwise.Binary<T, T, MultiplyOp<T>>(a, sa, b, sb, o, shape); break;
                case BinaryOp.FloorDivide: Elementwise.Binary<T, T, FloorDivideIntOp<T>>(a, sa, b, sb, o, shape); break;
                case BinaryOp.Remainder: Elementwise.Binary<T, T, RemainderIntOp<T>>(a, sa, b, sb, o, shape); break;
                case BinaryOp.Power: Elementwise.Binary<T, T, PowerIntOp<T>>(a, sa, b, sb, o, shape); break;
                case BinaryOp.Maximum: Elementwise.Binary<T, T, MaximumOp<T>>(a, sa, b, sb, o, shape); break;
                case BinaryOp.Minimum: Elementwise.Binary<T, T, MinimumOp<T>>(a, sa, b, sb, o, shape); break;
                case BinaryOp.BitwiseAnd: Elementwise.Binary<T, T, BitwiseAndOp<T>>(a, sa, b, sb, o, shape); break;
                case BinaryOp.BitwiseOr: Elementwise.Binary<T, T, BitwiseOrOp<T>>(a, sa, b, sb, o, shape); break;
                case BinaryOp.BitwiseXor: Elementwise.Binary<T, T, BitwiseXorOp<T>>(a, sa, b, sb, o, shape); break;
                case BinaryOp.LeftShift: Elementwise.Binary<T, T, LeftShiftOp<T>>(a, sa, b, sb, o, shape); break;
                case BinaryOp.RightShift: Elementwise.Binary<T, T, RightShiftOp<T>>(a, sa, b, sb, o, shape); break;
                case BinaryOp.Equal or BinaryOp.EqualNan: Elementwise.Binary<T, bool, EqualOp<T>>(a, sa, b, sb, ob, shape); break;
                case BinaryOp.NotEqual: Elementwise.Binary<T, bool, NotEqualOp<T>>(a, sa, b, sb, ob, shape); break;
                case BinaryOp.Less: Elementwise.Binary<T, bool, LessOp<T>>(a, sa, b, sb, ob, shape); break;
                case BinaryOp.LessEqual: Elementwise.Binary<T, bool, LessEqualOp<T>>(a, sa, b, sb, ob, shape); break;
                case BinaryOp.Greater: Elementwise.Binary<T, bool, GreaterOp<T>>(a, sa, b, sb, ob, shape); break;
                case BinaryOp.GreaterEqual: Elementwise.Binary<T, bool, GreaterEqualOp<T>>(a, sa, b, sb, ob, shape); break;
                default: throw new NotSupportedException($"{Op} is not defined for {O.DType.Name()} arrays.");
            }
        }
    }

    private void ComplexKernel(MxArray a, MxArray b, MxArray o)
    {
        Complex64* x = a.Ptr<Complex64>(), y = b.Ptr<Complex64>();
        long[] sa = a.Strides, sb = b.Strides;
        int[] shape = o.ShapeRef;
        switch (Op)
        {
            case BinaryOp.Add: Elementwise.Binary<Complex64, Complex64, ComplexAddOp>(x, sa, y, sb, o.Ptr<Complex64>(), shape); break;
            case BinaryOp.Subtract: Elementwise.Binary<Complex64, Complex64, ComplexSubtractOp>(x, sa, y, sb, o.Ptr<Complex64>(), shape); break;
            case BinaryOp.Multiply: Elementwise.Binary<Complex64, Complex64, ComplexMultiplyOp>(x, sa, y, sb, o.Ptr<Complex64>(), shape); break;
            case BinaryOp.Divide: Elementwise.Binary<Complex64, Complex64, ComplexDivideOp>(x, sa, y, sb, o.Ptr<Complex64>(), shape); break;
            case BinaryOp.Equal: Elementwise.Binary<Complex64, bool, EqualOp<Complex64>>(x, sa, y, sb, o.Ptr<bool>(), shape); break;
            case BinaryOp.EqualNan: Elementwise.Binary<Complex64, bool, ComplexEqualNanOp>(x, sa, y, sb, o.Ptr<bool>(), shape); break;
            case BinaryOp.NotEqual: Elementwise.Binary<Complex64, bool, NotEqualOp<Complex64>>(x, sa, y, sb, o.Ptr<bool>(), shape); break;
            default: throw new NotSupportedException($"{Op} is not defined for complex64 arrays.");
        }
    }

    public override MxArray[] Vjp(MxArray[] primals, MxArray[] cotangents, int[] argnums, MxArray[] outputs)
    {
        var a = primals[0];
        var b = primals[1];
        var g = cotangents[0];
        var result = new MxArray[argnums.Length];
        for (int k = 0; k < argnums.Length; k++)
        {
            bool wrtA = argnums[k] == 0;
            result[k] = Op switch
            {
                BinaryOp.Add => g,
                BinaryOp.Subtract => wrtA ? g : Mx.Negative(g),
                BinaryOp.Multiply => Mx.Multiply(g, wrtA ? b : a),
                BinaryOp.Divide => wrtA ? Mx.Divide(g, b) : Mx.Negative(Mx.Divide(Mx.Multiply(g, outputs[0]), b)),
                BinaryOp.Power => wrtA
                    ? Mx.Multiply(g, Mx.Multiply(b, Mx.Power(a, Mx.Subtract(b, Mx.OnesLike(b)))))
                    : Mx.Multiply(g, Mx.Multiply(outputs[0], Mx.Where(Mx.Greater(a, Mx.ZerosLike(a)), Mx.Log(Mx.Maximum(a, Mx.ZerosLike(a))), Mx.ZerosLike(a)))),
                BinaryOp.Maximum or BinaryOp.Minimum => MaxMinVjp(a, b, g, wrtA),
                BinaryOp.LogAddExp => Mx.Multiply(g, Mx.Sigmoid(Mx.Subtract(wrtA ? a : b, wrtA ? b : a))),
                BinaryOp.ArcTan2 => ArcTan2Vjp(a, b, g, wrtA),
                BinaryOp.Remainder => wrtA ? g : Mx.Negative(Mx.Multiply(g, Mx.FloorDivide(a, b))),
                _ => Mx.ZerosLike(wrtA ? a : b),
            };
        }
        return result;
    }

    private MxArray MaxMinVjp(MxArray a, MxArray b, MxArray g, bool wrtA)
    {
        // The gradient goes to the selected operand; on ties, to the first (as MLX).
        var pick = Op == BinaryOp.Maximum ? Mx.GreaterEqual(a, b) : Mx.LessEqual(a, b);
        var zero = Mx.Zeros(System.Array.Empty<int>(), g.DType);
        return wrtA ? Mx.Where(pick, g, zero) : Mx.Where(pick, zero, g);
    }

    private static MxArray ArcTan2Vjp(MxArray a, MxArray b, MxArray g, bool wrtA)
    {
        var denom = Mx.Add(Mx.Square(a), Mx.Square(b));
        return Mx.Multiply(g, Mx.Divide(wrtA ? b : Mx.Negative(a), denom));
    }

    public override MxArray[] Jvp(MxArray[] primals, MxArray[] tangents, int[] argnums, MxArray[] outputs)
    {
        // The Jacobian of an elementwise op is diagonal, so each input's part of the JVP is its VJP applied to its tangent.
        MxArray? total = null;
        for (int k = 0; k < argnums.Length; k++)
        {
            var part = Vjp(primals, new[] { tangents[k] }, new[] { argnums[k] }, outputs)[0];
            total = total is null ? part : Mx.Add(total, part);
        }
        return new[] { total! };
    }

    public override MxArray[]? Vmap(MxArray[] inputs, bool[] batched, MxArray[] outputs)
    {
        int b = inputs.Where((_, i) => batched[i]).First().ShapeRef[0];
        var shape = new[] { b }.Concat(outputs[0].ShapeRef).ToArray();
        var lifted = inputs.Select((x, i) => Mx.BroadcastTo(batched[i] ? x : Mx.ExpandDims(x, 0), shape)).ToArray();
        return new[] { MxArray.Create(shape, outputs[0].DType, this, lifted) };
    }
}

/// <summary>Complex equality where NaN parts match NaN parts (array_equal(equal_nan=True) on complex64).</summary>
internal struct ComplexEqualNanOp : IBinaryOp<Complex64, bool>
{
    private static bool Same(float a, float b) => a == b || (float.IsNaN(a) && float.IsNaN(b));

    public static bool Apply(Complex64 a, Complex64 b) => Same(a.Real, b.Real) && Same(a.Imag, b.Imag);
}
