using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace Mlx.Kernels.Gpu;

/// <summary>
/// Sort along rows of length n: every element gets an order-preserving uint64 key (NaN largest, -0 equal to +0),
/// then a bottom-up merge sort of (key, position) pairs, one launch per doubling of the run width, each element
/// placing itself by a binary search in the neighbouring run (left runs win ties: stable). Fully parallel over all
/// rows and elements, log2(n) launches; values are then gathered from the source by the sorted positions.
/// </summary>
internal static class SortKernels
{
    private const ulong SignBit = 0x8000_0000_0000_0000UL;

    public static void Keys<T, C>(ArrayView<T> src, StridedLayout layout, ArrayView<ulong> keys, ArrayView<uint> order, long total, long n, int unsigned64, C codec)
        where T : unmanaged where C : struct, ICodec<T>
    {
        long stride = (long)Grid.DimX * Group.DimX;
        for (long g = Grid.GlobalIndex.X; g < total; g += stride)
        {
            T x = src[layout.Offset(g)];
            ulong key;
            if (codec.IsFloat)
            {
                double d = codec.ToDouble(x);
                if (XMath.IsNaN(d))
                {
                    key = ulong.MaxValue;
                }
                else
                {
                    ulong bits = Interop.FloatAsInt(d == 0 ? 0.0 : d);
                    key = (bits & SignBit) != 0 ? ~bits : bits | SignBit;
                }
            }
            else
            {
                ulong v = (ulong)codec.ToLong(x);
                key = unsigned64 != 0 ? v : v ^ SignBit;
            }
            keys[g] = key;
            order[g] = (uint)(g % n);
        }
    }

    public static void MergePass(ArrayView<ulong> kin, ArrayView<uint> oin, ArrayView<ulong> kout, ArrayView<uint> oout, long total, long n, long width)
    {
        long stride = (long)Grid.DimX * Group.DimX;
        for (long g = Grid.GlobalIndex.X; g < total; g += stride)
        {
            long i = g % n, row = g - i;
            long start = i / (2 * width) * (2 * width);
            long mid = XMin(start + width, n), end = XMin(start + 2 * width, n);
            ulong key = kin[g];
            long dest;
            if (i < mid)
            {
                // Right-run elements strictly smaller come first.
                long lo = mid, hi = end;
                while (lo < hi)
                {
                    long m = (lo + hi) >> 1;
                    if (kin[row + m] < key) lo = m + 1; else hi = m;
                }
                dest = i + (lo - mid);
            }
            else
            {
                // Left-run elements smaller or equal come first.
                long lo = start, hi = mid;
                while (lo < hi)
                {
                    long m = (lo + hi) >> 1;
                    if (kin[row + m] <= key) lo = m + 1; else hi = m;
                }
                dest = i - mid + lo;
            }
            kout[row + dest] = key;
            oout[row + dest] = oin[g];
        }
    }

    private static long XMin(long a, long b) => a < b ? a : b;

    // Element g of the sorted rows: the source element at its row's sorted position, written where dst places g.
    public static void Gather<T>(ArrayView<T> src, StridedLayout from, ArrayView<uint> order, ArrayView<T> dst, StridedLayout to, long total, long n)
        where T : unmanaged
    {
        long stride = (long)Grid.DimX * Group.DimX;
        for (long g = Grid.GlobalIndex.X; g < total; g += stride)
        {
            dst[to.Offset(g)] = src[from.Offset(g - g % n + order[g])];
        }
    }

    public static void Positions(ArrayView<uint> order, ArrayView<uint> dst, StridedLayout to, long total)
    {
        long stride = (long)Grid.DimX * Group.DimX;
        for (long g = Grid.GlobalIndex.X; g < total; g += stride)
        {
            dst[to.Offset(g)] = order[g];
        }
    }
}

public sealed partial class GpuDevice
{
    /// <summary>
    /// Sorts (or argsorts, writing uint32 positions) <paramref name="total"/> elements in rows of <paramref name="n"/>:
    /// <paramref name="from"/> and <paramref name="to"/> place element g (row-major over rows x n, the sorted axis
    /// last) in the source and the destination.
    /// </summary>
    public void SortRows(GpuType t, GpuMemory src, StridedLayout from, GpuMemory dst, StridedLayout to, long total, long n, bool indices)
    {
        if (total == 0)
        {
            return;
        }
        var keys = Allocate(total * 8);
        var order = Allocate(total * 4);
        var keys2 = Allocate(total * 8);
        var order2 = Allocate(total * 4);
        switch (t)
        {
            case GpuType.Bool: SortKeys<byte, BoolCodec>(src, from, keys, order, total, n, false); break;
            case GpuType.UInt8: SortKeys<byte, U8Codec>(src, from, keys, order, total, n, false); break;
            case GpuType.UInt16: SortKeys<ushort, U16Codec>(src, from, keys, order, total, n, false); break;
            case GpuType.UInt32: SortKeys<uint, U32Codec>(src, from, keys, order, total, n, false); break;
            case GpuType.UInt64: SortKeys<ulong, U64Codec>(src, from, keys, order, total, n, true); break;
            case GpuType.Int8: SortKeys<sbyte, I8Codec>(src, from, keys, order, total, n, false); break;
            case GpuType.Int16: SortKeys<short, I16Codec>(src, from, keys, order, total, n, false); break;
            case GpuType.Int32: SortKeys<int, I32Codec>(src, from, keys, order, total, n, false); break;
            case GpuType.Int64: SortKeys<long, I64Codec>(src, from, keys, order, total, n, false); break;
            case GpuType.Float16: SortKeys<ushort, F16Codec>(src, from, keys, order, total, n, false); break;
            case GpuType.BFloat16: SortKeys<ushort, BF16Codec>(src, from, keys, order, total, n, false); break;
            case GpuType.Float32: SortKeys<float, F32Codec>(src, from, keys, order, total, n, false); break;
            default: SortKeys<double, F64Codec>(src, from, keys, order, total, n, false); break;
        }
        var merge = Kernel("sort.merge", a => a.LoadStreamKernel<ArrayView<ulong>, ArrayView<uint>, ArrayView<ulong>, ArrayView<uint>, long, long, long>(SortKernels.MergePass));
        for (long width = 1; width < n; width *= 2)
        {
            merge(GridFor(total), keys.View<ulong>(), order.View<uint>(), keys2.View<ulong>(), order2.View<uint>(), total, n, width);
            (keys, keys2) = (keys2, keys);
            (order, order2) = (order2, order);
        }
        if (indices)
        {
            var k = Kernel("sort.positions", a => a.LoadStreamKernel<ArrayView<uint>, ArrayView<uint>, StridedLayout, long>(SortKernels.Positions));
            k(GridFor(total), order.View<uint>(), dst.View<uint>(), to, total);
        }
        else
        {
            switch (ItemSize(t))
            {
                case 1: SortGather<byte>(src, from, order, dst, to, total, n); break;
                case 2: SortGather<ushort>(src, from, order, dst, to, total, n); break;
                case 4: SortGather<uint>(src, from, order, dst, to, total, n); break;
                default: SortGather<ulong>(src, from, order, dst, to, total, n); break;
            }
        }
        Release(keys);
        Release(order);
        Release(keys2);
        Release(order2);
    }

    private void SortKeys<T, C>(GpuMemory src, StridedLayout from, GpuMemory keys, GpuMemory order, long total, long n, bool unsigned64)
        where T : unmanaged where C : struct, ICodec<T>
    {
        var k = Kernel("sort.keys", a => a.LoadStreamKernel<ArrayView<T>, StridedLayout, ArrayView<ulong>, ArrayView<uint>, long, long, int, C>(SortKernels.Keys));
        k(GridFor(total), src.View<T>(), from, keys.View<ulong>(), order.View<uint>(), total, n, unsigned64 ? 1 : 0, default);
    }

    private void SortGather<T>(GpuMemory src, StridedLayout from, GpuMemory order, GpuMemory dst, StridedLayout to, long total, long n) where T : unmanaged
    {
        var k = Kernel("sort.gather", a => a.LoadStreamKernel<ArrayView<T>, StridedLayout, ArrayView<uint>, ArrayView<T>, StridedLayout, long, long>(SortKernels.Gather));
        k(GridFor(total), src.View<T>(), from, order.View<uint>(), dst.View<T>(), to, total, n);
    }
}
