using System.Numerics;
using System.Numerics.Tensors;
using Mlx.Kernels;

namespace Mlx;

/// <summary>Softmax along one axis in one pass per row (max, exp-sum, scale), rows split across cores.</summary>
internal sealed unsafe class SoftmaxPrimitive : Primitive
{
    public SoftmaxPrimitive(int axis) => Axis = axis;

    public int Axis { get; }

    public override string Name => "Softmax";

    public override bool IsEquivalent(Primitive other) => other is SoftmaxPrimitive p && p.Axis == Axis;

    public override void EvalCpu(MxArray[] inputs, MxArray[] outputs)
    {
        var o = outputs[0];
        var scratch = AxisLast.Gather(inputs[0], Axis, o.DType);
        long n = o.ShapeRef[Axis];
        long rows = n == 0 ? 0 : o.Size / n;
        var v = new Kernel { X = scratch, Rows = rows, N = n };
        Dispatch.Float(o.DType, ref v);
        AxisLast.Restore(scratch, o, Axis);
    }

    public override bool HasGpuKernel => true;

    public override void EvalGpu(MxArray[] inputs, MxArray[] outputs)
    {
        var o = outputs[0];
        if (!GpuOps.Supports(o.DType) || o.NDim > Mlx.Kernels.Gpu.StridedLayout.MaxDims)
        {
            EvalCpu(inputs, outputs);
            return;
        }
        var src = GpuDeviceOperand.Of(inputs[0], o.DType);
        GpuRuntime.Device.Softmax(GpuOps.TypeOf(o.DType), src.Operand, Axis, GpuRuntime.AllocateOutput(o));
        src.Release();
    }

    private struct Kernel : IFloatVisitor
    {
        public MxArray X;
        public long Rows, N;

        public void Visit<T>() where T : unmanaged, IFloatingPointIeee754<T>, IMinMaxValue<T>
        {
            nint px = (nint)X.Ptr<T>();
            long n = N;
            Parallelism.For(Rows, n * 8, (s, e) =>
            {
                for (long r = s; r < e; r++)
                {
                    var row = new Span<T>((T*)px + r * n, (int)n);
                    T max = TensorPrimitives.Max<T>(row);
                    TensorPrimitives.Subtract(row, max, row);
                    TensorPrimitives.Exp<T>(row, row);
                    T sum = TensorPrimitives.Sum<T>(row);
                    TensorPrimitives.Divide(row, sum, row);
                }
            });
        }
    }

    public override MxArray[] Vjp(MxArray[] primals, MxArray[] cotangents, int[] argnums, MxArray[] outputs)
    {
        var y = outputs[0];
        var gy = Mx.Multiply(cotangents[0], y);
        return new[] { Mx.Subtract(gy, Mx.Multiply(y, Mx.Sum(gy, Axis, keepDims: true))) };
    }

    public override MxArray[] Jvp(MxArray[] primals, MxArray[] tangents, int[] argnums, MxArray[] outputs)
    {
        var y = Mx.Softmax(primals[0], Axis);
        var ty = Mx.Multiply(tangents[0], y);
        return new[] { Mx.Subtract(ty, Mx.Multiply(y, Mx.Sum(ty, Axis, keepDims: true))) };
    }

    public override MxArray[]? Vmap(MxArray[] inputs, bool[] batched, MxArray[] outputs) =>
        new[] { MxArray.Create(inputs[0].ShapeRef, outputs[0].DType, new SoftmaxPrimitive(Axis + 1), inputs[0]) };
}
