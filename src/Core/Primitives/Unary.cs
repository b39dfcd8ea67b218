using System.Numerics;
using Mlx.Kernels;

namespace Mlx;

internal sealed unsafe class UnaryPrimitive : Primitive
{
    public UnaryPrimitive(UnaryOp op) => Op = op;

    public UnaryOp Op { get; }

    public override string Name => Op.ToString();

    public override bool IsEquivalent(Primitive other) => other is UnaryPrimitive p && p.Op == Op;

    /// <summary>The ops the complex64 kernel computes (others are refused when the op is built).</summary>
    public static bool SupportsComplex(UnaryOp op) => op is UnaryOp.Abs or UnaryOp.Negative or UnaryOp.Conjugate or UnaryOp.Exp
        or UnaryOp.Log or UnaryOp.Log10 or UnaryOp.Sqrt or UnaryOp.Sin or UnaryOp.Cos or UnaryOp.Tan or UnaryOp.Sinh or UnaryOp.Cosh
        or UnaryOp.Tanh or UnaryOp.Arcsin or UnaryOp.Arccos or UnaryOp.Arctan or UnaryOp.Square or UnaryOp.Reciprocal
        or UnaryOp.Real or UnaryOp.Imag or UnaryOp.LogicalNot or UnaryOp.IsNaN or UnaryOp.IsInf or UnaryOp.IsPosInf or UnaryOp.IsNegInf;

    public static bool ReturnsBool(UnaryOp op) => op is UnaryOp.LogicalNot or UnaryOp.IsNaN or UnaryOp.IsInf or UnaryOp.IsPosInf or UnaryOp.IsNegInf;

    public override void EvalCpu(MxArray[] inputs, MxArray[] outputs)
    {
        var x = inputs[0];
        var o = outputs[0];
        if (x.DType is DType.Float16 or DType.BFloat16)
        {
            var fn = (UnaryFloatFn)(int)Op;
            if (ReturnsBool(Op) || (int)Op > (int)UnaryOp.Radians
                || !Dispatch.TryTiledViaFloat32(inputs, o, (p, _, q, len) => UnaryFloat.Run(fn, p[0], (float*)q, len), expandScalars: true))
                Dispatch.ViaFloat32(inputs, outputs, EvalCpu);
            return;
        }
        o.AllocateData();
        long n = o.Size;
        if (n == 0)
        {
            return;
        }
        var src = Cast.Contiguous(x);
        try
        {
            if (ReturnsBool(Op))
            {
                BoolResult(src, o.Ptr<bool>(), n);
            }
            else if (x.DType == DType.Complex64)
            {
                ComplexKernel(src.Ptr<Complex64>(), o, n);
            }
            else if (Dispatch.IsComputeFloat(x.DType))
            {
                var v = new FloatKernel { X = src, O = o, Fn = (UnaryFloatFn)(int)Op, N = n };
                Dispatch.Float(x.DType, ref v);
            }
            else
            {
                var v = new IntKernel { X = src, O = o, Op = Op, N = n };
                Dispatch.Int(x.DType, ref v);
            }
        }
        finally
        {
            if (!ReferenceEquals(src, x))
            {
                src.Buffer.Release();
            }
        }
    }

    public override bool HasGpuKernel => true;

    public override void EvalGpu(MxArray[] inputs, MxArray[] outputs)
    {
        var x = inputs[0];
        var o = outputs[0];
        if (x.DType == DType.Complex64 && Mlx.Kernels.Gpu.GpuDevice.HasComplexKernel(Op))
        {
            var z = GpuOps.Operand(x, DType.Complex64, allowScalar: false);
            GpuRuntime.Device.ComplexUnary(Op, z.Memory, GpuRuntime.AllocateOutput(o), o.Size);
            GpuOps.Release(z);
            return;
        }
        if (!GpuOps.Supports(x.DType))
        {
            EvalCpu(inputs, outputs);
            return;
        }
        var device = GpuRuntime.Device;
        long n = o.Size;
        if (Op == UnaryOp.LogicalNot)
        {
            // Through bool first (any nonzero, NaN included, is true), then flip the low bit.
            var wide = GpuDeviceOperand.ViaBool(x, DType.UInt32);
            var one = GpuOps.Constant(DType.UInt32, 1);
            GpuOps.IntoOutput(o, DType.UInt32, m => device.Binary(BinaryOp.BitwiseXor, Mlx.Kernels.Gpu.GpuType.UInt32, wide.Operand.Memory, false, one, true, m, n));
            wide.Release();
            GpuRuntime.Free(one);
            return;
        }
        var ct = GpuOps.ComputeType(x.DType);
        var src = GpuOps.Operand(x, ct, allowScalar: false);
        if (ReturnsBool(Op))
        {
            device.Unary(Op, GpuOps.TypeOf(ct), src.Memory, GpuRuntime.AllocateOutput(o), n);
        }
        else
        {
            GpuOps.IntoOutput(o, ct, m => device.Unary(Op, GpuOps.TypeOf(ct), src.Memory, m, n));
        }
        GpuOps.Release(src);
    }

    private void BoolResult(MxArray x, bool* o, long n)
    {
        if (Op == UnaryOp.LogicalNot)
        {
            var t = Cast.Materialize(x, DType.Bool);
            bool* b = t.Ptr<bool>();
            for (long i = 0; i < n; i++) o[i] = !b[i];
            t.Buffer.Release();
            return;
        }
        if (x.DType == DType.Complex64)
        {
            // NaN if either part is NaN; infinite if either part is infinite.
            var c = x.Ptr<Complex64>();
            for (long i = 0; i < n; i++)
            {
                float re = c[i].Real, im = c[i].Imag;
                o[i] = Op switch
                {
                    UnaryOp.IsNaN => float.IsNaN(re) || float.IsNaN(im),
                    UnaryOp.IsInf => float.IsInfinity(re) || float.IsInfinity(im),
                    UnaryOp.IsPosInf => float.IsPositiveInfinity(re) || float.IsPositiveInfinity(im),
                    _ => float.IsNegativeInfinity(re) || float.IsNegativeInfinity(im),
                };
            }
            return;
        }
        if (!x.DType.IsFloating())
        {
            new Span<bool>(o, (int)n).Clear();
            return;
        }
        var v = new ClassifyKernel { X = x, O = o, Op = Op, N = n };
        Dispatch.Float(x.DType, ref v);
    }

    private struct ClassifyKernel : IFloatVisitor
    {
        public MxArray X;
        public bool* O;
        public UnaryOp Op;
        public long N;

        public void Visit<T>() where T : unmanaged, IFloatingPointIeee754<T>, IMinMaxValue<T>
        {
            T* x = X.Ptr<T>();
            for (long i = 0; i < N; i++)
            {
                O[i] = Op switch
                {
                    UnaryOp.IsNaN => T.IsNaN(x[i]),
                    UnaryOp.IsInf => T.IsInfinity(x[i]),
                    UnaryOp.IsPosInf => T.IsPositiveInfinity(x[i]),
                    _ => T.IsNegativeInfinity(x[i]),
                };
            }
        }
    }

    private struct FloatKernel : IFloatVisitor
    {
        public MxArray X, O;
        public UnaryFloatFn Fn;
        public long N;

        public void Visit<T>() where T : unmanaged, IFloatingPointIeee754<T>, IMinMaxValue<T> => UnaryFloat.Run(Fn, X.Ptr<T>(), O.Ptr<T>(), N);
    }

    private struct IntKernel : IIntVisitor
    {
        public MxArray X, O;
        public UnaryOp Op;
        public long N;

        public void Visit<T>() where T : unmanaged, IBinaryInteger<T>, IMinMaxValue<T>
        {
            T* x = X.Ptr<T>();
            T* o = O.Ptr<T>();
            bool signed = T.IsNegative(T.MinValue);
            for (long i = 0; i < N; i++)
            {
                T v = x[i];
                o[i] = Op switch
                {
                    UnaryOp.Abs => signed && T.IsNegative(v) ? T.Zero - v : v,
                    UnaryOp.Negative => T.Zero - v,
                    UnaryOp.Square => v * v,
                    UnaryOp.Sign => v == T.Zero ? T.Zero : (T.IsNegative(v) ? T.Zero - T.One : T.One),
                    UnaryOp.Floor or UnaryOp.Ceil or UnaryOp.Round or UnaryOp.Conjugate or UnaryOp.Real => v,
                    UnaryOp.BitwiseInvert => ~v,
                    _ => throw new NotSupportedException($"{Op} is not defined for {O.DType.Name()} arrays."),
                };
            }
        }
    }

    private void ComplexKernel(Complex64* x, MxArray o, long n)
    {
        if (Op is UnaryOp.Real or UnaryOp.Imag or UnaryOp.Abs)
        {
            float* r = o.Ptr<float>();
            for (long i = 0; i < n; i++) r[i] = Op == UnaryOp.Real ? x[i].Real : Op == UnaryOp.Imag ? x[i].Imag : x[i].Magnitude;
            return;
        }
        Complex64* c = o.Ptr<Complex64>();
        for (long i = 0; i < n; i++)
        {
            var z = new System.Numerics.Complex(x[i].Real, x[i].Imag);
            System.Numerics.Complex r = Op switch
            {
                UnaryOp.Negative => -z,
                UnaryOp.Conjugate => System.Numerics.Complex.Conjugate(z),
                UnaryOp.Exp => System.Numerics.Complex.Exp(z),
                UnaryOp.Log => System.Numerics.Complex.Log(z),
                UnaryOp.Sqrt => System.Numerics.Complex.Sqrt(z),
                UnaryOp.Sin => System.Numerics.Complex.Sin(z),
                UnaryOp.Cos => System.Numerics.Complex.Cos(z),
                UnaryOp.Tanh => System.Numerics.Complex.Tanh(z),
                UnaryOp.Tan => System.Numerics.Complex.Tan(z),
                UnaryOp.Sinh => System.Numerics.Complex.Sinh(z),
                UnaryOp.Cosh => System.Numerics.Complex.Cosh(z),
                UnaryOp.Log10 => System.Numerics.Complex.Log10(z),
                UnaryOp.Arcsin => System.Numerics.Complex.Asin(z),
                UnaryOp.Arccos => System.Numerics.Complex.Acos(z),
                UnaryOp.Arctan => System.Numerics.Complex.Atan(z),
                UnaryOp.Square => z * z,
                UnaryOp.Reciprocal => 1 / z,
                _ => throw new NotSupportedException($"{Op} is not defined for complex64 arrays."),
            };
            c[i] = new Complex64((float)r.Real, (float)r.Imaginary);
        }
    }

    public override MxArray[] Vjp(MxArray[] primals, MxArray[] cotangents, int[] argnums, MxArray[] outputs)
    {
        var x = primals[0];
        var g = cotangents[0];
        var y = outputs[0];
        MxArray d = Op switch
        {
            UnaryOp.Abs => Mx.Multiply(g, Mx.Sign(x)),
            UnaryOp.Negative => Mx.Negative(g),
            UnaryOp.Exp => Mx.Multiply(g, y),
            UnaryOp.Expm1 => Mx.Multiply(g, Mx.Add(y, 1)),
            UnaryOp.Log => Mx.Divide(g, x),
            UnaryOp.Log2 => Mx.Divide(g, Mx.Multiply(x, Math.Log(2))),
            UnaryOp.Log10 => Mx.Divide(g, Mx.Multiply(x, Math.Log(10))),
            UnaryOp.Log1p => Mx.Divide(g, Mx.Add(x, 1)),
            UnaryOp.Sin => Mx.Multiply(g, Mx.Cos(x)),
            UnaryOp.Cos => Mx.Negative(Mx.Multiply(g, Mx.Sin(x))),
            UnaryOp.Tan => Mx.Divide(g, Mx.Square(Mx.Cos(x))),
            UnaryOp.Arcsin => Mx.Multiply(g, Mx.Rsqrt(Mx.Subtract(1, Mx.Square(x)))),
            UnaryOp.Arccos => Mx.Negative(Mx.Multiply(g, Mx.Rsqrt(Mx.Subtract(1, Mx.Square(x))))),
            UnaryOp.Arctan => Mx.Divide(g, Mx.Add(Mx.Square(x), 1)),
            UnaryOp.Sinh => Mx.Multiply(g, Mx.Cosh(x)),
            UnaryOp.Cosh => Mx.Multiply(g, Mx.Sinh(x)),
            UnaryOp.Tanh => Mx.Multiply(g, Mx.Subtract(1, Mx.Square(y))),
            UnaryOp.Arcsinh => Mx.Multiply(g, Mx.Rsqrt(Mx.Add(Mx.Square(x), 1))),
            UnaryOp.Arccosh => Mx.Multiply(g, Mx.Rsqrt(Mx.Subtract(Mx.Square(x), 1))),
            UnaryOp.Arctanh => Mx.Divide(g, Mx.Subtract(1, Mx.Square(x))),
            UnaryOp.Sigmoid => Mx.Multiply(g, Mx.Multiply(y, Mx.Subtract(1, y))),
            UnaryOp.Sqrt => Mx.Divide(g, Mx.Multiply(y, 2)),
            UnaryOp.Rsqrt => Mx.Multiply(g, Mx.Multiply(Mx.Divide(y, x), -0.5)),
            UnaryOp.Reciprocal => Mx.Negative(Mx.Multiply(g, Mx.Square(y))),
            UnaryOp.Square => Mx.Multiply(g, Mx.Multiply(x, 2)),
            UnaryOp.Cbrt => Mx.Divide(g, Mx.Multiply(Mx.Square(y), 3)),
            UnaryOp.Erf => Mx.Multiply(g, Mx.Multiply(Mx.Exp(Mx.Negative(Mx.Square(x))), 2 / Math.Sqrt(Math.PI))),
            UnaryOp.Erfinv => Mx.Multiply(g, Mx.Multiply(Mx.Exp(Mx.Square(y)), Math.Sqrt(Math.PI) / 2)),
            UnaryOp.Degrees => Mx.Multiply(g, 180 / Math.PI),
            UnaryOp.Radians => Mx.Multiply(g, Math.PI / 180),
            UnaryOp.Conjugate => Mx.Conjugate(g),
            _ => Mx.ZerosLike(x),
        };
        return new[] { d };
    }

    public override MxArray[] Jvp(MxArray[] primals, MxArray[] tangents, int[] argnums, MxArray[] outputs) =>
        Vjp(primals, tangents, argnums, outputs);

    public override MxArray[]? Vmap(MxArray[] inputs, bool[] batched, MxArray[] outputs) =>
        new[] { MxArray.Create(new[] { inputs[0].ShapeRef[0] }.Concat(outputs[0].ShapeRef).ToArray(), outputs[0].DType, this, inputs[0]) };
}
