namespace Mlx;

/// <summary>
/// hadamard_transform along the last axis: scale * H x (Kernels.Hadamard), or scale * H^T x (Transposed, the VJP:
/// H_20 and H_28 are not symmetric). float16/bfloat16 run in float32.
/// </summary>
internal sealed unsafe class HadamardPrimitive(double scale, bool transposed) : Primitive
{
    public double Scale { get; } = scale;

    public bool Transposed { get; } = transposed;

    public override string Name => "Hadamard";

    public override bool IsEquivalent(Primitive other) => other is HadamardPrimitive p && p.Scale.Equals(Scale) && p.Transposed == Transposed;

    public override void EvalCpu(MxArray[] inputs, MxArray[] outputs)
    {
        var o = outputs[0];
        if (o.DType is DType.Float16 or DType.BFloat16)
        {
            Dispatch.ViaFloat32(inputs, outputs, EvalCpu);
            return;
        }
        o.AllocateData();
        Cast.Run(inputs[0], o);
        int n = o.ShapeRef[^1];
        var (p, m) = Kernels.Hadamard.Decompose(n)!.Value;
        long rows = o.Size / n;
        if (o.DType == DType.Float64) Kernels.Hadamard.Transform(o.Ptr<double>(), rows, p, m, Transposed, Scale);
        else Kernels.Hadamard.Transform(o.Ptr<float>(), rows, p, m, Transposed, (float)Scale);
    }

    public override MxArray[] Vjp(MxArray[] primals, MxArray[] cotangents, int[] argnums, MxArray[] outputs) =>
        new[] { MxArray.Create(cotangents[0].ShapeRef, outputs[0].DType, new HadamardPrimitive(Scale, !Transposed), Mx.AsType(cotangents[0], outputs[0].DType)) };

    public override MxArray[] Jvp(MxArray[] primals, MxArray[] tangents, int[] argnums, MxArray[] outputs) =>
        new[] { MxArray.Create(tangents[0].ShapeRef, outputs[0].DType, this, Mx.AsType(tangents[0], outputs[0].DType)) };

    public override MxArray[]? Vmap(MxArray[] inputs, bool[] batched, MxArray[] outputs) =>
        new[] { MxArray.Create(inputs[0].ShapeRef, outputs[0].DType, this, inputs[0]) };
}
