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

/// <summary>
/// Softmax over rows of consecutive elements that start at multiples of four, a group per row, in two sweeps instead
/// of three: each thread keeps a running max m and the sum of exp(x - m), rescaled by exp(m_old - m_new) when the
/// max grows (the online softmax), the group combines its threads' pairs, then writes exp(x - max) / sum. Reads and
/// writes four elements per access (see <see cref="Quad{T}"/>).
/// </summary>
internal static class OnlineSoftmaxKernels
{
    public static void QuadGroups<T, TOps>(ArrayView<T> x, StridedLayout xRows, ArrayView<T> o, StridedLayout oRows, long rows, long n, T negInf, T zero, TOps ops)
        where T : unmanaged where TOps : struct, IGpuOps<T>
    {
        var shared = SharedMemory.Allocate<T>(ReduceKernels.MaxGroupSize);
        var x4 = x.Cast<Quad<T>>();
        var o4 = o.Cast<Quad<T>>();
        long groups = Grid.DimX;
        int tid = Group.IdxX, size = Group.DimX;
        for (long r = Grid.IdxX; r < rows; r += groups)
        {
            long xs = xRows.Offset(r), os = oRows.Offset(r);
            T m = negInf, sum = zero;
            for (long q = tid; 4 * q < n; q += size)
            {
                // Quad q of the row; the last one holds the n % 4 elements left, padded with -inf (which adds nothing).
                long j = 4 * q;
                var u = j + 4 <= n ? x4[(xs >> 2) + q]
                    : new Quad<T>(x[xs + j], j + 1 < n ? x[xs + j + 1] : negInf, j + 2 < n ? x[xs + j + 2] : negInf, negInf);
                T top = Max(Max(u.X, u.Y, ops), Max(u.Z, u.W, ops), ops);
                T next = Max(m, top, ops);
                // While everything seen is -inf there is nothing to add (and -inf - -inf would be NaN).
                if (ops.Compare((int)BinaryOp.NotEqual, next, negInf))
                {
                    sum = ops.Binary((int)BinaryOp.Multiply, sum, Exp(ops.Binary((int)BinaryOp.Subtract, m, next), ops));
                    for (int k = 0; k < 4; k++)
                    {
                        sum = ops.Binary((int)BinaryOp.Add, sum, Exp(ops.Binary((int)BinaryOp.Subtract, u[k], next), ops));
                    }
                    m = next;
                }
            }
            T max = ReduceKernels.GroupReduce(shared, m, (int)BinaryOp.Maximum, ops);
            T mine = ops.Compare((int)BinaryOp.Equal, m, negInf) ? zero : ops.Binary((int)BinaryOp.Multiply, sum, Exp(ops.Binary((int)BinaryOp.Subtract, m, max), ops));
            T total = ReduceKernels.GroupReduce(shared, mine, (int)BinaryOp.Add, ops);
            for (long q = tid; 4 * q < n; q += size)
            {
                long j = 4 * q;
                var u = j + 4 <= n ? x4[(xs >> 2) + q] : new Quad<T>(x[xs + j], j + 1 < n ? x[xs + j + 1] : zero, j + 2 < n ? x[xs + j + 2] : zero, zero);
                var e = u;
                for (int k = 0; k < 4; k++)
                {
                    e = e.With(k, ops.Binary((int)BinaryOp.Divide, Exp(ops.Binary((int)BinaryOp.Subtract, u[k], max), ops), total));
                }
                if (j + 4 <= n)
                {
                    o4[(os >> 2) + q] = e;
                }
                else
                {
                    for (int k = 0; j + k < n; k++)
                    {
                        o[os + j + k] = e[k];
                    }
                }
            }
        }
    }

    private static T Max<T, TOps>(T a, T b, TOps ops) where T : unmanaged where TOps : struct, IGpuOps<T> => ops.Binary((int)BinaryOp.Maximum, a, b);

    private static T Exp<T, TOps>(T a, TOps ops) where T : unmanaged where TOps : struct, IGpuOps<T> => ops.Unary((int)UnaryOp.Exp, a);
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
        if (!perThread && xStride == 1 && oStride == 1 && xRows.Aligned(4) && oRows.Aligned(4))
        {
            // About four quads per thread: a row of 512 (attention's) takes a warp; with 256 threads, half would idle.
            int threads = (int)Math.Min((ulong)groupSize, Math.Max(32UL, System.Numerics.BitOperations.RoundUpToPowerOf2((ulong)((n + 15) / 16))));
            var online = Kernel("softmax.online", a => a.LoadStreamKernel<ArrayView<T>, StridedLayout, ArrayView<T>, StridedLayout, long, long, T, T, TOps>(OnlineSoftmaxKernels.QuadGroups));
            online(new KernelConfig((int)Math.Clamp(rows, 1, (long)MaxGroups * Math.Max(1, groupSize / threads)), threads),
                x.View<T>(), xRows, o.View<T>(), oRows, rows, n, negInf, zero, default);
            return;
        }
        var k = perThread
            ? Kernel("softmax.rows", a => a.LoadStreamKernel<ArrayView<T>, StridedLayout, long, ArrayView<T>, StridedLayout, long, long, long, T, T, TOps>(SoftmaxKernels.Rows))
            : Kernel("softmax.groups", a => a.LoadStreamKernel<ArrayView<T>, StridedLayout, long, ArrayView<T>, StridedLayout, long, long, long, T, T, TOps>(SoftmaxKernels.Groups));
        k(perThread ? GridFor(rows) : GroupsFor(rows, groupSize), x.View<T>(), xRows, xStride, o.View<T>(), oRows, oStride, rows, n, negInf, zero, default);
    }
}
