using ILGPU;
using ILGPU.Runtime;

namespace Mlx.Kernels.Gpu;

/// <summary>
/// Cumulative scans along one axis. Many rows: a thread scans a row sequentially (O(n) work, n steps). Few long rows:
/// a group per row (or per block of a row, starting from the scanned totals of the blocks before it) walks it in
/// tiles of the group size, each tile scanned in shared memory (Hillis-Steele, O(g log g) work and log g barriers per
/// tile of g) and offset by the carry of the tiles before it.
/// </summary>
internal static class ScanKernels
{
    // mode: the BinaryOp code, and these flags.
    public const int Reverse = 1 << 16, Inclusive = 1 << 17;

    // Element i of a row (in scan order) is at position j along the axis.
    private static long Position(long i, long n, bool reverse) => reverse ? n - 1 - i : i;

    public static void Rows<T, TOps>(ArrayView<T> x, StridedLayout xRows, long xStride, ArrayView<T> o, StridedLayout oRows, long oStride,
        long rows, long n, T identity, int mode, TOps ops)
        where T : unmanaged where TOps : struct, IGpuOps<T>
    {
        int op = mode & 0xFFFF;
        bool reverse = (mode & Reverse) != 0, inclusive = (mode & Inclusive) != 0;
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

    // Virtual row v is block (v % blocks) of row (v / blocks), starting from carries[v] (the scan of the blocks
    // before it) unless it is the first block.
    public static void Groups<T, TOps>(ArrayView<T> x, StridedLayout xRows, long xStride, ArrayView<T> o, StridedLayout oRows, long oStride,
        long rows, long n, T identity, int mode, ArrayView<T> carries, long blocks, long blockLen, TOps ops)
        where T : unmanaged where TOps : struct, IGpuOps<T>
    {
        var shared = SharedMemory.Allocate<T>(ReduceKernels.MaxGroupSize);
        int op = mode & 0xFFFF;
        bool reverse = (mode & Reverse) != 0, inclusive = (mode & Inclusive) != 0;
        long groups = Grid.DimX, count = rows * blocks;
        int tid = Group.IdxX, size = Group.DimX;
        for (long v = Grid.IdxX; v < count; v += groups)
        {
            var (r, begin, end) = ReduceKernels.Chunk(v, blocks, blockLen, n);
            long xs = xRows.Offset(r), os = oRows.Offset(r);
            T carry = begin == 0 ? identity : carries[v];
            for (long t0 = begin; t0 < end; t0 += size)
            {
                long i = t0 + tid;
                shared[tid] = i < end ? x[xs + Position(i, n, reverse) * xStride] : identity;
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
                // shared holds the tile's inclusive scan; the carry folds in everything before the tile, except
                // before the row's first tile, whose first element is taken as is.
                bool first = t0 == 0;
                if (i < end)
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
    /// The rows along <paramref name="axis"/> of <paramref name="x"/> and of its row-major result: where each row
    /// starts in either (the other dims collapsed), and the result's stride along the axis.
    /// </summary>
    internal static (StridedLayout X, StridedLayout O, long OAxisStride) AxisRows(GpuOperand x, int axis)
    {
        var rest = x.Shape.Where((_, i) => i != axis).ToArray();
        var oStrides = Strided.RowMajor(x.Shape);
        var (shape, strides) = Strided.Collapse(rest, x.Strides.Where((_, i) => i != axis).ToArray(), oStrides.Where((_, i) => i != axis).ToArray());
        return (StridedLayout.From(shape, strides[0], x.Offset), StridedLayout.From(shape, strides[1], 0), oStrides[axis]);
    }

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
        var (xRows, oRows, oAxisStride) = AxisRows(x, axis);
        var g = new ScanGeometry(xRows, x.Strides[axis], oRows, oAxisStride, total / n, n, (int)op, (reverse ? ScanKernels.Reverse : 0) | (inclusive ? ScanKernels.Inclusive : 0));
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
        if (g.N <= ShortReduction || g.Rows >= (long)MaxGroups * groupSize)
        {
            var rows = Kernel("scan.rows", a => a.LoadStreamKernel<ArrayView<T>, StridedLayout, long, ArrayView<T>, StridedLayout, long, long, long, T, int, TOps>(ScanKernels.Rows));
            rows(GridFor(g.Rows), x.View<T>(), g.XRows, g.XStride, o.View<T>(), g.ORows, g.OStride, g.Rows, g.N, identity, g.Op | g.Flags, default);
            return;
        }
        var groups = Kernel("scan.groups", a => a.LoadStreamKernel<ArrayView<T>, StridedLayout, long, ArrayView<T>, StridedLayout, long, long, long, T, int, ArrayView<T>, long, long, TOps>(ScanKernels.Groups));
        // Few long rows: each cut into blocks so that every group has work. The blocks' totals (a reduction),
        // scanned exclusively, are the carries each block starts from.
        long blocks = g.Rows >= MaxGroups ? 1 : Math.Clamp(MaxGroups / g.Rows, 1, (g.N + groupSize * 4 - 1) / (groupSize * 4));
        long blockLen = (g.N + blocks - 1) / blocks;
        blocks = (g.N + blockLen - 1) / blockLen;
        if (blocks == 1)
        {
            groups(GroupsFor(g.Rows, groupSize), x.View<T>(), g.XRows, g.XStride, o.View<T>(), g.ORows, g.OStride, g.Rows, g.N, identity, g.Op | g.Flags, o.View<T>(), 1, g.N, default);
            return;
        }
        long bytes = g.Rows * blocks * System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
        var totals = Allocate(bytes);
        bool reverse = (g.Flags & ScanKernels.Reverse) != 0;
        // The row in scan order: walked backwards when reversed.
        var scanOrder = StridedLayout.From(new[] { g.N }, new[] { reverse ? -g.XStride : g.XStride }, reverse ? (g.N - 1) * g.XStride : 0);
        ReduceGroupsKernel<T, TOps>()(GroupsFor(g.Rows * blocks, groupSize), x.View<T>(), g.XRows, scanOrder, totals.View<T>(), g.Rows, blocks, blockLen, g.N, g.Op, identity, default);
        var carries = Allocate(bytes);
        var blockRows = StridedLayout.From(new[] { g.Rows }, new[] { blocks }, 0);
        ScanImpl<T, TOps>(totals, carries, new ScanGeometry(blockRows, 1, blockRows, 1, g.Rows, blocks, g.Op, 0), identity);
        groups(GroupsFor(g.Rows * blocks, groupSize), x.View<T>(), g.XRows, g.XStride, o.View<T>(), g.ORows, g.OStride, g.Rows, g.N, identity, g.Op | g.Flags, carries.View<T>(), blocks, blockLen, default);
        Release(totals);
        Release(carries);
    }
}
