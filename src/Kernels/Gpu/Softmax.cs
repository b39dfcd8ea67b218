using ILGPU;
using ILGPU.Runtime;

namespace Mlx.Kernels.Gpu;

/// <summary>
/// Softmax along one axis in three sweeps of a row: its max (NaN propagating), the sum of exp(x - max), then
/// exp(x - max) / sum. Short rows: a thread per row; long rows: a group per row, the max and sum reduced in shared memory.
/// </summary>
internal static class SoftmaxKernels
{
    public static void Rows<T, TOps>(ArrayView<T> x, StridedLayout xRows, long xStride, ArrayView<T> o, StridedLayout oRows, long oStride,
        long rows, long n, T negInf, T zero, TOps ops)
        where T : unmanaged where TOps : struct, IGpuOps<T>
    {
        long stride = (long)Grid.DimX * Group.DimX;
        for (long r = Grid.GlobalIndex.X; r < rows; r += stride)
        {
            long xs = xRows.Offset(r), os = oRows.Offset(r);
            T max = negInf;
            for (long j = 0; j < n; j++)
            {
                max = ops.Binary((int)BinaryOp.Maximum, max, x[xs + j * xStride]);
            }
            T sum = zero;
            for (long j = 0; j < n; j++)
            {
                sum = ops.Binary((int)BinaryOp.Add, sum, ops.Unary((int)UnaryOp.Exp, ops.Binary((int)BinaryOp.Subtract, x[xs + j * xStride], max)));
            }
            for (long j = 0; j < n; j++)
            {
                o[os + j * oStride] = ops.Binary((int)BinaryOp.Divide, ops.Unary((int)UnaryOp.Exp, ops.Binary((int)BinaryOp.Subtract, x[xs + j * xStride], max)), sum);
            }
        }
    }

    public static void Groups<T, TOps>(ArrayView<T> x, StridedLayout xRows, long xStride, ArrayView<T> o, StridedLayout oRows, long oStride,
        long rows, long n, T negInf, T zero, TOps ops)
        where T : unmanaged where TOps : struct, IGpuOps<T>
    {
        var shared = SharedMemory.Allocate<T>(ReduceKernels.MaxGroupSize);
        long groups = Grid.DimX;
        int tid = Group.IdxX, size = Group.DimX;
        for (long r = Grid.IdxX; r < rows; r += groups)
        {
            long xs = xRows.Offset(r), os = oRows.Offset(r);
            T max = negInf;
            for (long j = tid; j < n; j += size)
            {
                max = ops.Binary((int)BinaryOp.Maximum, max, x[xs + j * xStride]);
            }
            max = ReduceKernels.GroupReduce(shared, max, (int)BinaryOp.Maximum, ops);
            T sum = zero;
            for (long j = tid; j < n; j += size)
            {
                sum = ops.Binary((int)BinaryOp.Add, sum, ops.Unary((int)UnaryOp.Exp, ops.Binary((int)BinaryOp.Subtract, x[xs + j * xStride], max)));
            }
            sum = ReduceKernels.GroupReduce(shared, sum, (int)BinaryOp.Add, ops);
            for (long j = tid; j < n; j += size)
            {
                o[os + j * oStride] = ops.Binary((int)BinaryOp.Divide, ops.Unary((int)UnaryOp.Exp, ops.Binary((int)BinaryOp.Subtract, x[xs + j * xStride], max)), sum);
            }
        }
    }
}

public sealed partial class GpuDevice
{
    /// <summary>Softmax along dim <paramref name="axis"/> of float32 or float64 <paramref name="x"/> (any strides) into row-major <paramref name="o"/>.</summary>
    public void Softmax(GpuType t, GpuOperand x, int axis, GpuMemory o)
    {
        long n = x.Shape[axis];
        long total = Count(x.Shape);
        if (total == 0)
        {
            return;
        }
        var (xRows, oRows, oAxisStride) = AxisRows(x, axis);
        switch (t)
        {
            case GpuType.Float32: SoftmaxImpl<float, F32Ops>(x.Memory, xRows, x.Strides[axis], o, oRows, oAxisStride, total / n, n, float.NegativeInfinity, 0f); break;
            case GpuType.Float64: SoftmaxImpl<double, F64Ops>(x.Memory, xRows, x.Strides[axis], o, oRows, oAxisStride, total / n, n, double.NegativeInfinity, 0d); break;
            default: throw new ArgumentException($"Softmax computes in float32 or float64, not {t}.");
        }
    }

    private void SoftmaxImpl<T, TOps>(GpuMemory x, StridedLayout xRows, long xStride, GpuMemory o, StridedLayout oRows, long oStride, long rows, long n, T negInf, T zero)
        where T : unmanaged where TOps : struct, IGpuOps<T>
    {
        int groupSize = ReduceGroupSize;
        bool perThread = n <= ShortReduction || rows >= (long)MaxGroups * groupSize;
        var k = perThread
            ? Kernel("softmax.rows", a => a.LoadStreamKernel<ArrayView<T>, StridedLayout, long, ArrayView<T>, StridedLayout, long, long, long, T, T, TOps>(SoftmaxKernels.Rows))
            : Kernel("softmax.groups", a => a.LoadStreamKernel<ArrayView<T>, StridedLayout, long, ArrayView<T>, StridedLayout, long, long, long, T, T, TOps>(SoftmaxKernels.Groups));
        k(perThread ? GridFor(rows) : GroupsFor(rows, groupSize), x.View<T>(), xRows, xStride, o.View<T>(), oRows, oStride, rows, n, negInf, zero, default);
    }
}
