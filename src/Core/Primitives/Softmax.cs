namespace Mlx;

/// <summary>
/// Softmax along one axis. float16/bfloat16 are computed in float32 (accumulation included). A row-contiguous input
/// with the axis last is read in place; any other layout is first gathered axis-last into the output's buffer.
/// </summary>
internal sealed unsafe class SoftmaxPrimitive : Primitive
{
    public SoftmaxPrimitive(int axis, bool log = false) => (Axis, Log) = (axis, log);

    public int Axis { get; }

    /// <summary>log softmax: (x - max) - log(sum(exp(x - max))), one kernel instead of five ops.</summary>
    public bool Log { get; }

    public override string Name => Log ? "LogSoftmax" : "Softmax";

    public override bool IsEquivalent(Primitive other) => other is SoftmaxPrimitive p && p.Axis == Axis && p.Log == Log;

    public override void EvalCpu(MxArray[] inputs, MxArray[] outputs)
    {
        var x = inputs[0];
        var o = outputs[0];
        if (o.DType is DType.Float16 or DType.BFloat16)
        {
            Dispatch.ViaFloat32(inputs, outputs, EvalCpu);
            return;
        }
        long n = o.ShapeRef[Axis];
        long rows = n == 0 ? 0 : o.Size / n;
        if (Axis == o.NDim - 1 && x.IsRowContiguous && x.DType == o.DType)
        {
            o.AllocateData();
            Run(x, o, rows, n);
            return;
        }
        var scratch = AxisLast.Gather(x, Axis, o.DType);
        Run(scratch, scratch, rows, n);
        AxisLast.Restore(scratch, o, Axis);
    }

    public override bool HasGpuKernel => true;

    public override void EvalGpu(MxArray[] inputs, MxArray[] outputs)
    {
        var o = outputs[0];
        if (Log || !GpuOps.Supports(o.DType) || o.NDim > Mlx.Kernels.Gpu.StridedLayout.MaxDims)
        {
            EvalCpu(inputs, outputs);
            return;
        }
        var src = GpuDeviceOperand.Of(inputs[0], o.DType);
        GpuRuntime.Device.Softmax(GpuOps.TypeOf(o.DType), src.Operand, Axis, GpuRuntime.AllocateOutput(o));
        src.Release();
    }

    private void Run(MxArray x, MxArray y, long rows, long n)
    {
        if (y.DType == DType.Float32)
        {
            if (Log) Kernels.Softmax.LogRows(x.Ptr<float>(), y.Ptr<float>(), rows, (int)n);
            else Kernels.Softmax.Rows(x.Ptr<float>(), y.Ptr<float>(), rows, (int)n);
        }
        else if (y.DType == DType.Float64)
        {
            Kernels.Softmax.Rows(x.Ptr<double>(), y.Ptr<double>(), rows, (int)n, Log);
        }
        else
        {
            throw new NotSupportedException($"No softmax kernel for {y.DType.Name()}.");
        }
    }

    public override MxArray[] Vjp(MxArray[] primals, MxArray[] cotangents, int[] argnums, MxArray[] outputs)
    {
        if (Log)
        {
            // d/dx of log softmax: g - softmax(x) sum(g).
            var g = cotangents[0];
            return new[] { Mx.Subtract(g, Mx.Multiply(Mx.Exp(outputs[0]), Mx.Sum(g, Axis, keepDims: true))) };
        }
        var y = outputs[0];
        var gy = Mx.Multiply(cotangents[0], y);
        return new[] { Mx.Subtract(gy, Mx.Multiply(y, Mx.Sum(gy, Axis, keepDims: true))) };
    }

    public override MxArray[] Jvp(MxArray[] primals, MxArray[] tangents, int[] argnums, MxArray[] outputs)
    {
        var y = Mx.Softmax(primals[0], Axis);
        if (Log)
        {
            return new[] { Mx.Subtract(tangents[0], Mx.Sum(Mx.Multiply(tangents[0], y), Axis, keepDims: true)) };
        }
        var ty = Mx.Multiply(tangents[0], y);
        return new[] { Mx.Subtract(ty, Mx.Multiply(y, Mx.Sum(ty, Axis, keepDims: true))) };
    }

    public override MxArray[]? Vmap(MxArray[] inputs, bool[] batched, MxArray[] outputs) =>
        new[] { MxArray.Create(inputs[0].ShapeRef, outputs[0].DType, new SoftmaxPrimitive(Axis + 1, Log), inputs[0]) };
}

/// <summary>
/// log(sum(exp(x))) along one axis (kept, size 1), as MLX's LogSumExp primitive: float32 rows in one kernel
/// (shifted by the row max, read once), float16/bfloat16 through float32, float64 by the composed ops' formula.
/// </summary>
internal sealed unsafe class LogSumExpPrimitive : Primitive
{
    public LogSumExpPrimitive(int axis) => Axis = axis;

    public int Axis { get; }

    public override string Name => "LogSumExp";

    public override bool IsEquivalent(Primitive other) => other is LogSumExpPrimitive p && p.Axis == Axis;

    public override void EvalCpu(MxArray[] inputs, MxArray[] outputs)
    {
        var o = outputs[0];
        if (o.DType is DType.Float16 or DType.BFloat16)
        {
            Dispatch.ViaFloat32(inputs, outputs, EvalCpu);
            return;
        }
        var x = inputs[0];
        var rowsOf = Axis == x.NDim - 1 && x.IsRowContiguous ? x : AxisLast.Gather(x, Axis, x.DType);
        int n = x.ShapeRef[Axis];
        long rows = o.Size;
        o.AllocateData();
        if (o.DType == DType.Float32)
        {
            Kernels.Softmax.LogSumExpRows(rowsOf.Ptr<float>(), o.Ptr<float>(), rows, n);
        }
        else
        {
            double* src = rowsOf.Ptr<double>(), dst = o.Ptr<double>();
            for (long r = 0; r < rows; r++)
            {
                var row = new ReadOnlySpan<double>(src + r * n, n);
                double max = n == 0 ? double.NegativeInfinity : System.Numerics.Tensors.TensorPrimitives.Max(row);
                double sum = 0;
                if (double.IsFinite(max)) foreach (double v in row) sum += Math.Exp(v - max);
                dst[r] = double.IsFinite(max) ? max + Math.Log(sum) : max;
            }
        }
        if (!ReferenceEquals(rowsOf, x)) rowsOf.Buffer.Release();
    }

    // d/dx = softmax(x) = exp(x - lse).
    public override MxArray[] Vjp(MxArray[] primals, MxArray[] cotangents, int[] argnums, MxArray[] outputs) =>
        new[] { Mx.Multiply(cotangents[0], Mx.Exp(Mx.Subtract(primals[0], outputs[0]))) };

    public override MxArray[] Jvp(MxArray[] primals, MxArray[] tangents, int[] argnums, MxArray[] outputs) =>
        new[] { Mx.Sum(Mx.Multiply(tangents[0], Mx.Softmax(primals[0], Axis)), Axis, keepDims: true) };

    public override MxArray[]? Vmap(MxArray[] inputs, bool[] batched, MxArray[] outputs) =>
        new[] { MxArray.Create(new[] { inputs[0].ShapeRef[0] }.Concat(outputs[0].ShapeRef).ToArray(), outputs[0].DType, new LogSumExpPrimitive(Axis + 1), inputs[0]) };
}
