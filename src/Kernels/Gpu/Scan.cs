using ILGPU;
using ILGPU.Runtime;

namespace Mlx.Kernels.Gpu;

/// <summary>
/// Cumulative scans along one axis. Many rows: a thread scans a row sequentially (O(n) work, n steps). Few long rows:
/// a group per row walks it in tiles of the group size, each tile scanned in shared memory (Hillis-Steele, O(g log g)
/// work and log g barriers per tile of g) and offset by the carry of the tiles before it.
/// </summary>
internal static class ScanKernels
{
    // Element i of a row (in scan order) is at position j along the axis.
    private static long Position(long i, long n, bool reverse) => reverse ? n - 1 - i : i;

    public static void Rows<T, TOps>(ArrayView<T> x, StridedLayout xRows, long xStride, ArrayView<T> o, StridedLayout oRows, long oStride,
        long rows, long n, int op, T identity, int flags, TOps ops)
        where T : unmanaged where TOps : struct, IGpuOps<T>
    {
        bool reverse = (flags & 1) != 0, inclusive = (flags & 2) != 0;
        long stride = (long)Grid.DimX * Group.DimX;
        for (long r = Grid.GlobalIndex.X; r < rows; r += stride)
        {
            long xs = xRows.Offset(r), os = oRows.Offset(r);
            T acc = identity;
            for (long i = 0; i < n; i++)
            {
                long j = Position(i, n, reverse);
                T v = x[xs + j * xStride];
                // The first element is taken as is (not combined with the identity), as the CPU kernel does.
                if (inclusive)
                {
                    acc = i == 0 ? v : ops.Binary(op, acc, v);
                    o[os + j * oStride] = acc;
                }
                else
                {
                    o[os + j * oStride] = acc;
                    acc = i == 0 ? v : ops.Binary(op, acc, v);
                }
            }
        }
    }

    public static void Groups<T, TOps>(ArrayView<T> x, StridedLayout xRows, long xStride, ArrayView<T> o, StridedLayout oRows, long oStride,
        long rows, long n, int op, T identity, int flags, TOps ops)
        where T : unmanaged where TOps : struct, IGpuOps<T>
    {
        var shared = SharedMemory.Allocate<T>(ReduceKernels.MaxGroupSize);
        bool reverse = (flags & 1) != 0, inclusive = (flags & 2) != 0;
        long groups = Grid.DimX;
        int tid = Group.IdxX, size = Group.DimX;
        for (long r = Grid.IdxX; r < rows; r += groups)
        {
            long xs = xRows.Offset(r), os = oRows.Offset(r);
            T carry = identity;
            for (long t0 = 0; t0 < n; t0 += size)
            {
                long i = t0 + tid;
                shared[tid] = i < n ? x[xs + Position(i, n, reverse) * xStride] : identity;
                Group.Barrier();
                for (int s = 1; s < size; s <<= 1)
                {
                    T left = tid >= s ? shared[tid - s] : identity;
                    Group.Barrier();
                    if (tid >= s)
                    {
                        shared[tid] = ops.Binary(op, left, shared[tid]);
                    }
                    Group.Barrier();
                }
                // shared holds the tile's inclusive scan; the carry folds in the tiles before.
                bool first = t0 == 0;
                if (i < n)
                {
                    T value;
                    if (inclusive)
                    {
                        value = first ? shared[tid] : ops.Binary(op, carry, shared[tid]);
                    }
                    else
                    {
                        value = tid == 0 ? carry : (first ? shared[tid - 1] : ops.Binary(op, carry, shared[tid - 1]));
                    }
                    o[os + Position(i, n, reverse) * oStride] = value;
                }
                carry = first ? shared[size - 1] : ops.Binary(op, carry, shared[size - 1]);
                Group.Barrier();
            }
        }
    }
}

public sealed partial class GpuDevice
{
    /// <summary>
    /// Scans dim <paramref name="axis"/> of <paramref name="x"/> (compute type <paramref name="t"/>, any strides) with
    /// <paramref name="op"/> (Add, Multiply, Maximum, Minimum, LogAddExp) into row-major <paramref name="o"/> of the
    /// same shape. An exclusive scan starts from the op's identity in <paramref name="storage"/>, the type the result
    /// is stored in (an int8 max scan starts from -128, not from the int32 minimum).
    /// </summary>
    public void Scan(BinaryOp op, GpuType t, GpuType storage, GpuOperand x, int axis, bool reverse, bool inclusive, GpuMemory o)
    {
        long n = x.Shape[axis];
        long total = Count(x.Shape);
        if (total == 0)
        {
            return;
        }
        var rest = x.Shape.Where((_, i) => i != axis).ToArray();
        var oStrides = Strided.RowMajor(x.Shape);
        var (shape, strides) = Strided.Collapse(rest, x.Strides.Where((_, i) => i != axis).ToArray(), oStrides.Where((_, i) => i != axis).ToArray());
        var xRows = StridedLayout.From(shape, strides[0], x.Offset);
        var oRows = StridedLayout.From(shape, strides[1], 0);
        var g = new ScanGeometry(xRows, x.Strides[axis], oRows, oStrides[axis], total / n, n, (int)op, (reverse ? 1 : 0) | (inclusive ? 2 : 0));
        switch (t)
        {
            case GpuType.Float32: ScanImpl<float, F32Ops>(x.Memory, o, g, Identity<float>(op)); break;
            case GpuType.Float64: ScanImpl<double, F64Ops>(x.Memory, o, g, Identity<double>(op)); break;
            case GpuType.Int32:
                bool max = op == BinaryOp.Maximum;
                int identity = (storage, op) switch
                {
                    (GpuType.Int8, BinaryOp.Maximum or BinaryOp.Minimum) => max ? sbyte.MinValue : sbyte.MaxValue,
                    (GpuType.Int16, BinaryOp.Maximum or BinaryOp.Minimum) => max ? short.MinValue : short.MaxValue,
                    _ => Identity<int>(op),
                };
                ScanImpl<int, I32Ops>(x.Memory, o, g, identity);
                break;
            case GpuType.Int64: ScanImpl<long, I64Ops>(x.Memory, o, g, Identity<long>(op)); break;
            case GpuType.UInt32: ScanImpl<uint, U32Ops>(x.Memory, o, g, Identity<uint>(op)); break;
            case GpuType.UInt64: ScanImpl<ulong, U64Ops>(x.Memory, o, g, Identity<ulong>(op)); break;
            default: throw new ArgumentException($"Scans compute in 32/64-bit types, not {t}.");
        }
    }

    private readonly record struct ScanGeometry(StridedLayout XRows, long XStride, StridedLayout ORows, long OStride, long Rows, long N, int Op, int Flags);

    private void ScanImpl<T, TOps>(GpuMemory x, GpuMemory o, ScanGeometry g, T identity)
        where T : unmanaged where TOps : struct, IGpuOps<T>
    {
        int groupSize = ReduceGroupSize;
        bool perThread = g.N <= ShortReduction || g.Rows >= (long)MaxGroups * groupSize;
        var k = perThread
            ? Kernel("scan.rows", a => a.LoadStreamKernel<ArrayView<T>, StridedLayout, long, ArrayView<T>, StridedLayout, long, long, long, int, T, int, TOps>(ScanKernels.Rows))
            : Kernel("scan.groups", a => a.LoadStreamKernel<ArrayView<T>, StridedLayout, long, ArrayView<T>, StridedLayout, long, long, long, int, T, int, TOps>(ScanKernels.Groups));
        k(perThread ? GridFor(g.Rows) : GroupsFor(g.Rows, groupSize), x.View<T>(), g.XRows, g.XStride, o.View<T>(), g.ORows, g.OStride, g.Rows, g.N, g.Op, identity, g.Flags, default);
    }
}
