using Mlx.Kernels;

namespace Mlx;

/// <summary>
/// p - s * g for two float32/float64 arrays of one shape, in one pass: SGD's update without the intermediate
/// s * g array. Rounds like the two ops it replaces (the product is rounded before the subtraction).
/// </summary>
internal sealed unsafe class SubtractScaledPrimitive : Primitive
{
    public SubtractScaledPrimitive(double scale) => Scale = scale;

    public double Scale { get; }

    public override string Name => "SubtractScaled";

    public override bool IsEquivalent(Primitive other) => other is SubtractScaledPrimitive p && p.Scale.Equals(Scale);

    /// <summary>p - scale * g as one node where the kernel applies, else as Subtract(p, Multiply(g, scale)).</summary>
    public static MxArray Apply(MxArray p, MxArray g, double scale)
    {
        if (p.DType is DType.Float32 or DType.Float64 && g.DType == p.DType && p.ShapeRef.SequenceEqual(g.ShapeRef))
        {
            return MxArray.Create(p.ShapeRef, p.DType, new SubtractScaledPrimitive(scale), p, g);
        }
        return Mx.Subtract(p, Mx.Multiply(g, Mx.Array(scale, p.DType)));
    }

    public override void EvalCpu(MxArray[] inputs, MxArray[] outputs)
    {
        var o = outputs[0];
        o.AllocateData();
        var p = Cast.Contiguous(inputs[0]);
        var g = Cast.Contiguous(inputs[1]);
        try
        {
            if (o.DType == DType.Float32)
            {
                Elementwise.SubtractScaled(p.Ptr<float>(), g.Ptr<float>(), (float)Scale, o.Ptr<float>(), o.Size);
            }
            else
            {
                Elementwise.SubtractScaled(p.Ptr<double>(), g.Ptr<double>(), Scale, o.Ptr<double>(), o.Size);
            }
        }
        finally
        {
            if (!ReferenceEquals(p, inputs[0])) p.Buffer.Release();
            if (!ReferenceEquals(g, inputs[1])) g.Buffer.Release();
        }
    }

    public override bool HasGpuKernel => true;

    /// <summary>The same two roundings on the GPU: s * g into scratch, then p minus it.</summary>
    public override void EvalGpu(MxArray[] inputs, MxArray[] outputs)
    {
        var o = outputs[0];
        if (!GpuOps.Supports(o.DType))
        {
            EvalCpu(inputs, outputs);
            return;
        }
        var device = GpuRuntime.Device;
        var type = GpuOps.TypeOf(o.DType);
        var p = GpuOps.Operand(inputs[0], o.DType);
        var g = GpuOps.Operand(inputs[1], o.DType);
        var scale = GpuOps.Constant(o.DType, Scale);
        var product = GpuRuntime.Scratch(o.NBytes);
        device.Binary(BinaryOp.Multiply, type, g.Memory, g.Scalar, scale, true, product, o.Size);
        device.Binary(BinaryOp.Subtract, type, p.Memory, p.Scalar, product, g.Scalar, GpuRuntime.AllocateOutput(o), o.Size);
        GpuRuntime.Free(product);
        GpuRuntime.Free(scale);
        GpuOps.Release(p);
        GpuOps.Release(g);
    }

    public override MxArray[] Vjp(MxArray[] primals, MxArray[] cotangents, int[] argnums, MxArray[] outputs) =>
        argnums.Select(k => k == 0 ? cotangents[0] : Mx.Multiply(cotangents[0], Mx.Array(-Scale, cotangents[0].DType))).ToArray();

    public override MxArray[] Jvp(MxArray[] primals, MxArray[] tangents, int[] argnums, MxArray[] outputs)
    {
        MxArray? total = null;
        for (int k = 0; k < argnums.Length; k++)
        {
            var part = argnums[k] == 0 ? tangents[k] : Mx.Multiply(tangents[k], Mx.Array(-Scale, tangents[k].DType));
            total = total is null ? part : Mx.Add(total, part);
        }
        return new[] { total! };
    }

    public override MxArray[]? Vmap(MxArray[] inputs, bool[] batched, MxArray[] outputs)
    {
        var p = batched[0] ? inputs[0] : Mx.ExpandDims(inputs[0], 0);
        var g = batched[1] ? inputs[1] : Mx.ExpandDims(inputs[1], 0);
        return new[] { Mx.Subtract(p, Mx.Multiply(g, Mx.Array(Scale, p.DType))) };
    }
}
