namespace Mlx;

/// <summary>
/// Layer normalization over the last axis, as mlx.core.fast.layer_norm: inputs x and, when present, weight and bias
/// (1-D, the last axis' length). float16/bfloat16 are computed in float32. Its derivatives are those of the same
/// function composed from ops (<see cref="Composed"/>), so they are differentiable again.
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

    private MxArray Composition(MxArray[] a) => Composed(a[0], HasWeight ? a[1] : null, HasBias ? a[^1] : null, Eps);

    public override MxArray[] Vjp(MxArray[] primals, MxArray[] cotangents, int[] argnums, MxArray[] outputs) =>
        RuleHelpers.VjpOfComposition(Composition, primals, cotangents, argnums);

    public override MxArray[] Jvp(MxArray[] primals, MxArray[] tangents, int[] argnums, MxArray[] outputs) =>
        RuleHelpers.JvpOfComposition(Composition, primals, tangents, argnums);

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

    private MxArray Composition(MxArray[] a) => Composed(a[0], HasWeight ? a[1] : null, Eps);

    public override MxArray[] Vjp(MxArray[] primals, MxArray[] cotangents, int[] argnums, MxArray[] outputs) =>
        RuleHelpers.VjpOfComposition(Composition, primals, cotangents, argnums);

    public override MxArray[] Jvp(MxArray[] primals, MxArray[] tangents, int[] argnums, MxArray[] outputs) =>
        RuleHelpers.JvpOfComposition(Composition, primals, tangents, argnums);

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
