namespace Mlx;

/// <summary>
/// Layer normalization over the last axis, as mlx.core.fast.layer_norm: inputs x and, when present, weight and bias
/// (1-D, the last axis' length). float16/bfloat16 are computed in float32. Its derivatives are built from ops, so
/// they are differentiable again.
/// </summary>
internal sealed unsafe class LayerNormPrimitive : Primitive
{
    public LayerNormPrimitive(double eps, bool hasWeight, bool hasBias) => (Eps, HasWeight, HasBias) = (eps, hasWeight, hasBias);

    public double Eps { get; }

    public bool HasWeight { get; }

    public bool HasBias { get; }

    public override string Name => "LayerNorm";

    public override bool IsEquivalent(Primitive other) =>
        other is LayerNormPrimitive p && p.Eps == Eps && p.HasWeight == HasWeight && p.HasBias == HasBias;

    public override void EvalCpu(MxArray[] inputs, MxArray[] outputs)
    {
        var o = outputs[0];
        if (o.DType is DType.Float16 or DType.BFloat16)
        {
            Dispatch.ViaFloat32(inputs, outputs, EvalCpu);
            return;
        }
        NormRows.Run(inputs, o, (x, w, b, rows, n) =>
        {
            if (o.DType == DType.Float32)
                Kernels.Normalization.LayerNormRows(x.Ptr<float>(), w is null ? null : w.Ptr<float>(), b is null ? null : b.Ptr<float>(), o.Ptr<float>(), rows, n, (float)Eps);
            else
                Kernels.Normalization.LayerNormRows(x.Ptr<double>(), w is null ? null : w.Ptr<double>(), b is null ? null : b.Ptr<double>(), o.Ptr<double>(), rows, n, Eps);
        }, HasWeight, HasBias);
    }

    /// <summary>The same function from separate ops: what the derivatives are taken of.</summary>
    internal static MxArray Composed(MxArray x, MxArray? w, MxArray? b, double eps)
    {
        var wide = x.DType is DType.Float16 or DType.BFloat16 ? Mx.AsType(x, DType.Float32) : x;
        var centered = Mx.Subtract(wide, Mx.Mean(wide, -1, keepDims: true));
        var y = Mx.Multiply(centered, Mx.Rsqrt(Mx.Add(Mx.Mean(Mx.Square(centered), -1, keepDims: true), eps)));
        y = Mx.AsType(y, x.DType);
        if (w is not null) y = Mx.Multiply(y, w);
        if (b is not null) y = Mx.Add(y, b);
        return y;
    }

    private MxArray[] Split(MxArray[] a) => new[] { a[0], HasWeight ? a[1] : null!, HasBias ? a[^1] : null! };

    public override MxArray[] Vjp(MxArray[] primals, MxArray[] cotangents, int[] argnums, MxArray[] outputs)
    {
        var (x, w, g) = (primals[0], HasWeight ? primals[1] : null, cotangents[0]);
        var result = new MxArray[argnums.Length];
        var xf = x.DType is DType.Float16 or DType.BFloat16 ? Mx.AsType(x, DType.Float32) : x;
        var gf = Mx.AsType(g, xf.DType);
        var mean = Mx.Mean(xf, -1, keepDims: true);
        var centered = Mx.Subtract(xf, mean);
        var inv = Mx.Rsqrt(Mx.Add(Mx.Mean(Mx.Square(centered), -1, keepDims: true), Eps));
        var xhat = Mx.Multiply(centered, inv);
        int[] lead = Enumerable.Range(0, g.NDim - 1).ToArray();
        for (int k = 0; k < argnums.Length; k++)
        {
            int arg = argnums[k];
            if (arg == 0)
            {
                // dx = inv (wg - mean(wg) - xhat mean(wg xhat)), wg = w g
                var wg = w is null ? gf : Mx.Multiply(gf, Mx.AsType(w, gf.DType));
                var dx = Mx.Multiply(inv, Mx.Subtract(Mx.Subtract(wg, Mx.Mean(wg, -1, keepDims: true)),
                    Mx.Multiply(xhat, Mx.Mean(Mx.Multiply(wg, xhat), -1, keepDims: true))));
                result[k] = Mx.AsType(dx, x.DType);
            }
            else if (HasWeight && arg == 1)
            {
                result[k] = Mx.AsType(Mx.Sum(Mx.Multiply(gf, xhat), lead), primals[1].DType);
            }
            else
            {
                result[k] = Mx.AsType(Mx.Sum(gf, lead), primals[^1].DType);
            }
        }
        return result;
    }

    public override MxArray[] Jvp(MxArray[] primals, MxArray[] tangents, int[] argnums, MxArray[] outputs)
    {
        var full = primals.Select(p => Mx.ZerosLike(p)).ToArray();
        for (int k = 0; k < argnums.Length; k++) full[argnums[k]] = tangents[k];
        return Mx.Jvp(a => { var s = Split(a); return new[] { Composed(s[0], s[1], s[2], Eps) }; }, primals, full).Jvps;
    }

    public override MxArray[]? Vmap(MxArray[] inputs, bool[] batched, MxArray[] outputs) =>
        batched.Skip(1).Any(b => b) ? null
            : new[] { MxArray.Create(inputs[0].ShapeRef, outputs[0].DType, this, inputs) };
}

/// <summary>RMS normalization over the last axis, as mlx.core.fast.rms_norm: inputs x and, when present, a 1-D weight.</summary>
internal sealed unsafe class RmsNormPrimitive : Primitive
{
    public RmsNormPrimitive(double eps, bool hasWeight) => (Eps, HasWeight) = (eps, hasWeight);

    public double Eps { get; }

    public bool HasWeight { get; }

    public override string Name => "RMSNorm";

    public override bool IsEquivalent(Primitive other) => other is RmsNormPrimitive p && p.Eps == Eps && p.HasWeight == HasWeight;

    public override void EvalCpu(MxArray[] inputs, MxArray[] outputs)
    {
        var o = outputs[0];
        if (o.DType is DType.Float16 or DType.BFloat16)
        {
            Dispatch.ViaFloat32(inputs, outputs, EvalCpu);
            return;
        }
        NormRows.Run(inputs, o, (x, w, _, rows, n) =>
        {
            if (o.DType == DType.Float32)
                Kernels.Normalization.RmsNormRows(x.Ptr<float>(), w is null ? null : w.Ptr<float>(), o.Ptr<float>(), rows, n, (float)Eps);
            else
                Kernels.Normalization.RmsNormRows(x.Ptr<double>(), w is null ? null : w.Ptr<double>(), o.Ptr<double>(), rows, n, Eps);
        }, HasWeight, false);
    }

    internal static MxArray Composed(MxArray x, MxArray? w, double eps)
    {
        var wide = x.DType is DType.Float16 or DType.BFloat16 ? Mx.AsType(x, DType.Float32) : x;
        var y = Mx.AsType(Mx.Multiply(wide, Mx.Rsqrt(Mx.Add(Mx.Mean(Mx.Square(wide), -1, keepDims: true), eps))), x.DType);
        return w is null ? y : Mx.Multiply(y, w);
    }

    public override MxArray[] Vjp(MxArray[] primals, MxArray[] cotangents, int[] argnums, MxArray[] outputs)
    {
        var (x, w, g) = (primals[0], HasWeight ? primals[1] : null, cotangents[0]);
        var xf = x.DType is DType.Float16 or DType.BFloat16 ? Mx.AsType(x, DType.Float32) : x;
        var gf = Mx.AsType(g, xf.DType);
        var inv = Mx.Rsqrt(Mx.Add(Mx.Mean(Mx.Square(xf), -1, keepDims: true), Eps));
        var result = new MxArray[argnums.Length];
        for (int k = 0; k < argnums.Length; k++)
        {
            if (argnums[k] == 0)
            {
                // dx = inv (wg - x inv^2 mean(wg x)), wg = w g
                var wg = w is null ? gf : Mx.Multiply(gf, Mx.AsType(w, gf.DType));
                var dx = Mx.Multiply(inv, Mx.Subtract(wg, Mx.Multiply(Mx.Multiply(xf, Mx.Square(inv)), Mx.Mean(Mx.Multiply(wg, xf), -1, keepDims: true))));
                result[k] = Mx.AsType(dx, x.DType);
            }
            else
            {
                result[k] = Mx.AsType(Mx.Sum(Mx.Multiply(gf, Mx.Multiply(xf, inv)), Enumerable.Range(0, g.NDim - 1).ToArray()), primals[1].DType);
            }
        }
        return result;
    }

    public override MxArray[] Jvp(MxArray[] primals, MxArray[] tangents, int[] argnums, MxArray[] outputs)
    {
        var full = primals.Select(p => Mx.ZerosLike(p)).ToArray();
        for (int k = 0; k < argnums.Length; k++) full[argnums[k]] = tangents[k];
        return Mx.Jvp(a => new[] { Composed(a[0], HasWeight ? a[1] : null, Eps) }, primals, full).Jvps;
    }

    public override MxArray[]? Vmap(MxArray[] inputs, bool[] batched, MxArray[] outputs) =>
        batched.Skip(1).Any(b => b) ? null : new[] { MxArray.Create(inputs[0].ShapeRef, outputs[0].DType, this, inputs) };
}

/// <summary>Row-major copies of a normalization's inputs where needed, the output allocated, and the kernel run.</summary>
internal static unsafe class NormRows
{
    public delegate void Kernel(MxArray x, MxArray? w, MxArray? b, long rows, int n);

    public static void Run(MxArray[] inputs, MxArray o, Kernel kernel, bool hasWeight, bool hasBias)
    {
        var x = Cast.Contiguous(inputs[0]);
        var w = hasWeight ? Cast.Contiguous(inputs[1]) : null;
        var b = hasBias ? Cast.Contiguous(inputs[^1]) : null;
        o.AllocateData();
        int n = o.NDim == 0 ? 1 : o.ShapeRef[^1];
        long rows = n == 0 ? 0 : o.Size / n;
        kernel(x, w, b, rows, n);
        foreach (var (copy, original) in new[] { (x, inputs[0]), (w, hasWeight ? inputs[1] : null), (b, hasBias ? inputs[^1] : null) })
        {
            if (copy is not null && !ReferenceEquals(copy, original)) copy.Buffer.Release();
        }
    }
}
