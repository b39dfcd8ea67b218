using ILGPU;
using ILGPU.Runtime;

namespace Mlx.Kernels.Gpu;

/// <summary>
/// Gathers and scatters along an axis. Scatters combine in the CPU kernels' order: one thread per destination column
/// walks the indices in sequence, so duplicates resolve exactly as on the CPU (last write wins, sums in the same order).
/// </summary>
internal static class IndexingKernels
{
    // Wraps negative indices by size; an index still out of range (or a uint64 index of 2^63 or more) sets bad[0].
    public static void WrapIndices(ArrayView<long> src, ArrayView<long> dst, long n, long size, int unsigned64, ArrayView<int> bad)
    {
        long stride = (long)Grid.DimX * Group.DimX;
        for (long i = Grid.GlobalIndex.X; i < n; i += stride)
        {
            long v = src[i];
            bool wrongSign = unsigned64 != 0 && v < 0;
            if (v < 0)
            {
                v += size;
            }
            if (wrongSign || v < 0 || v >= size)
            {
                bad[0] = 1;
                v = 0;
            }
            dst[i] = v;
        }
    }

    // o[a, j, b] = src[a, idx[j], b] over o's n = A * m * B elements.
    public static void Take<T>(ArrayView<T> src, ArrayView<long> idx, ArrayView<T> dst, long k, long m, long b, long n) where T : unmanaged
    {
        long stride = (long)Grid.DimX * Group.DimX;
        for (long i = Grid.GlobalIndex.X; i < n; i += stride)
        {
            long t = i / b;
            dst[i] = src[((t / m) * k + idx[t % m]) * b + i % b];
        }
    }

    // One thread per (a, b) column of the A x B columns: o[a, idx[j], b] = u[a, j, b] for j in order.
    public static void ScatterCopy<T>(ArrayView<T> o, ArrayView<T> u, ArrayView<long> idx, long k, long m, long b, long columns) where T : unmanaged
    {
        long stride = (long)Grid.DimX * Group.DimX;
        for (long c = Grid.GlobalIndex.X; c < columns; c += stride)
        {
            long a = c / b, col = c % b;
            for (long j = 0; j < m; j++)
            {
                o[(a * k + idx[j]) * b + col] = u[(a * m + j) * b + col];
            }
        }
    }

    public static void ScatterCombine<T, TOps>(ArrayView<T> o, ArrayView<T> u, ArrayView<long> idx, long k, long m, long b, long columns, int op, TOps ops)
        where T : unmanaged where TOps : struct, IGpuOps<T>
    {
        long stride = (long)Grid.DimX * Group.DimX;
        for (long c = Grid.GlobalIndex.X; c < columns; c += stride)
        {
            long a = c / b, col = c % b;
            for (long j = 0; j < m; j++)
            {
                long d = (a * k + idx[j]) * b + col;
                o[d] = ops.Binary(op, o[d], u[(a * m + j) * b + col]);
            }
        }
    }

    // take_along_axis: the source position of element e is layout(e) (the axis' stride zeroed) + idx[e] * axisStride.
    public static void TakeAlong<T>(ArrayView<T> src, StridedLayout layout, long axisStride, ArrayView<long> idx, ArrayView<T> dst, long n) where T : unmanaged
    {
        long stride = (long)Grid.DimX * Group.DimX;
        for (long e = Grid.GlobalIndex.X; e < n; e += stride)
        {
            dst[e] = src[layout.Offset(e) + idx[e] * axisStride];
        }
    }

    // put_along_axis: one thread per column (every index position but the axis) walks the m positions along the axis
    // in order. Column c is element (c / inner) * m * inner + c % inner at axis position 0; columns maps c to o's offset.
    public static void PutAlong<T>(ArrayView<T> o, ArrayView<T> u, ArrayView<long> idx, StridedLayout columns, long count, long m, long inner, long axisStride)
        where T : unmanaged
    {
        long stride = (long)Grid.DimX * Group.DimX;
        for (long c = Grid.GlobalIndex.X; c < count; c += stride)
        {
            long e0 = (c / inner) * m * inner + c % inner;
            long d0 = columns.Offset(c);
            for (long t = 0; t < m; t++)
            {
                long e = e0 + t * inner;
                o[d0 + idx[e] * axisStride] = u[e];
            }
        }
    }

    public static void PutAlongAdd<T, TOps>(ArrayView<T> o, ArrayView<T> u, ArrayView<long> idx, StridedLayout columns, long count, long m, long inner, long axisStride, TOps ops)
        where T : unmanaged where TOps : struct, IGpuOps<T>
    {
        long stride = (long)Grid.DimX * Group.DimX;
        for (long c = Grid.GlobalIndex.X; c < count; c += stride)
        {
            long e0 = (c / inner) * m * inner + c % inner;
            long d0 = columns.Offset(c);
            for (long t = 0; t < m; t++)
            {
                long e = e0 + t * inner;
                long d = d0 + idx[e] * axisStride;
                o[d] = ops.Binary((int)BinaryOp.Add, o[d], u[e]);
            }
        }
    }

    public static void CopyStrided<T>(ArrayView<T> src, StridedLayout from, ArrayView<T> dst, StridedLayout to, long n) where T : unmanaged
    {
        long stride = (long)Grid.DimX * Group.DimX;
        for (long i = Grid.GlobalIndex.X; i < n; i += stride)
        {
            dst[to.Offset(i)] = src[from.Offset(i)];
        }
    }
}

public sealed partial class GpuDevice
{
    /// <summary>
    /// Wraps <paramref name="n"/> int64 indices into [0, size) from <paramref name="src"/> into <paramref name="dst"/>;
    /// false when one is out of range (the caller reports which). Waits for the device.
    /// </summary>
    public unsafe bool WrapIndices(GpuMemory src, GpuMemory dst, long n, long size, bool unsigned64)
    {
        if (n == 0)
        {
            return true;
        }
        int bad = 0;
        var flag = Allocate(4);
        Upload(flag, (nint)(&bad), 4);
        var k = Kernel("index.wrap", a => a.LoadStreamKernel<ArrayView<long>, ArrayView<long>, long, long, int, ArrayView<int>>(IndexingKernels.WrapIndices));
        k(GridFor(n), src.View<long>(), dst.View<long>(), n, size, unsigned64 ? 1 : 0, flag.View<int>());
        Download(flag, (nint)(&bad), 4);
        Release(flag);
        return bad == 0;
    }

    /// <summary>take along an axis of a row-major [A, K, B] source: dst is row-major [A, m, B], m = number of indices.</summary>
    public void TakeAxis(int itemSize, GpuMemory src, GpuMemory idx, long a, long k, long m, long b, GpuMemory dst)
    {
        long n = a * m * b;
        if (n == 0)
        {
            return;
        }
        switch (itemSize)
        {
            case 1: TakeImpl<byte>(src, idx, dst, k, m, b, n); break;
            case 2: TakeImpl<ushort>(src, idx, dst, k, m, b, n); break;
            case 4: TakeImpl<uint>(src, idx, dst, k, m, b, n); break;
            default: TakeImpl<ulong>(src, idx, dst, k, m, b, n); break;
        }
    }

    private void TakeImpl<T>(GpuMemory src, GpuMemory idx, GpuMemory dst, long k, long m, long b, long n) where T : unmanaged
    {
        var kernel = Kernel("index.take", acc => acc.LoadStreamKernel<ArrayView<T>, ArrayView<long>, ArrayView<T>, long, long, long, long>(IndexingKernels.Take));
        kernel(GridFor(n), src.View<T>(), idx.View<long>(), dst.View<T>(), k, m, b, n);
    }

    /// <summary>
    /// Scatter into row-major [A, K, B] <paramref name="o"/> from row-major [A, m, B] <paramref name="u"/>:
    /// <paramref name="op"/> null writes (last index wins), else Add, Multiply, Maximum or Minimum in compute type
    /// <paramref name="t"/> (a 32- or 64-bit type; with a null op only its size matters).
    /// </summary>
    public void ScatterAxis(BinaryOp? op, GpuType t, GpuMemory o, GpuMemory u, GpuMemory idx, long a, long k, long m, long b)
    {
        long columns = a * b;
        if (columns == 0 || m == 0)
        {
            return;
        }
        if (op is null)
        {
            switch (ItemSize(t))
            {
                case 1: ScatterCopyImpl<byte>(o, u, idx, k, m, b, columns); break;
                case 2: ScatterCopyImpl<ushort>(o, u, idx, k, m, b, columns); break;
                case 4: ScatterCopyImpl<uint>(o, u, idx, k, m, b, columns); break;
                default: ScatterCopyImpl<ulong>(o, u, idx, k, m, b, columns); break;
            }
            return;
        }
        int code = (int)op.Value;
        switch (t)
        {
            case GpuType.Float32: ScatterCombineImpl<float, F32Ops>(o, u, idx, k, m, b, columns, code); break;
            case GpuType.Float64: ScatterCombineImpl<double, F64Ops>(o, u, idx, k, m, b, columns, code); break;
            case GpuType.Int32: ScatterCombineImpl<int, I32Ops>(o, u, idx, k, m, b, columns, code); break;
            case GpuType.Int64: ScatterCombineImpl<long, I64Ops>(o, u, idx, k, m, b, columns, code); break;
            case GpuType.UInt32: ScatterCombineImpl<uint, U32Ops>(o, u, idx, k, m, b, columns, code); break;
            case GpuType.UInt64: ScatterCombineImpl<ulong, U64Ops>(o, u, idx, k, m, b, columns, code); break;
            default: throw new ArgumentException($"Scatter kernels combine in 32/64-bit types, not {t}.");
        }
    }

    private void ScatterCopyImpl<T>(GpuMemory o, GpuMemory u, GpuMemory idx, long k, long m, long b, long columns) where T : unmanaged
    {
        var kernel = Kernel("index.scatter", acc => acc.LoadStreamKernel<ArrayView<T>, ArrayView<T>, ArrayView<long>, long, long, long, long>(IndexingKernels.ScatterCopy));
        kernel(GridFor(columns), o.View<T>(), u.View<T>(), idx.View<long>(), k, m, b, columns);
    }

    private void ScatterCombineImpl<T, TOps>(GpuMemory o, GpuMemory u, GpuMemory idx, long k, long m, long b, long columns, int op)
        where T : unmanaged where TOps : struct, IGpuOps<T>
    {
        var kernel = Kernel("index.scatter", acc => acc.LoadStreamKernel<ArrayView<T>, ArrayView<T>, ArrayView<long>, long, long, long, long, int, TOps>(IndexingKernels.ScatterCombine));
        kernel(GridFor(columns), o.View<T>(), u.View<T>(), idx.View<long>(), k, m, b, columns, op, default);
    }

    /// <summary>take_along_axis over <paramref name="n"/> outputs; <paramref name="layout"/> places each output in the source with the axis' stride zeroed.</summary>
    public void TakeAlong(int itemSize, GpuMemory src, StridedLayout layout, long axisStride, GpuMemory idx, GpuMemory dst, long n)
    {
        if (n == 0)
        {
            return;
        }
        switch (itemSize)
        {
            case 1: TakeAlongImpl<byte>(src, layout, axisStride, idx, dst, n); break;
            case 2: TakeAlongImpl<ushort>(src, layout, axisStride, idx, dst, n); break;
            case 4: TakeAlongImpl<uint>(src, layout, axisStride, idx, dst, n); break;
            default: TakeAlongImpl<ulong>(src, layout, axisStride, idx, dst, n); break;
        }
    }

    private void TakeAlongImpl<T>(GpuMemory src, StridedLayout layout, long axisStride, GpuMemory idx, GpuMemory dst, long n) where T : unmanaged
    {
        var kernel = Kernel("index.takealong", acc => acc.LoadStreamKernel<ArrayView<T>, StridedLayout, long, ArrayView<long>, ArrayView<T>, long>(IndexingKernels.TakeAlong));
        kernel(GridFor(n), src.View<T>(), layout, axisStride, idx.View<long>(), dst.View<T>(), n);
    }

    /// <summary>
    /// put_along_axis: <paramref name="count"/> columns of <paramref name="m"/> updates each (row-major index order,
    /// <paramref name="inner"/> elements after the axis); <paramref name="columns"/> maps a column to its offset in o.
    /// With <paramref name="add"/>, <paramref name="t"/> must be float32, float64, int32 or int64.
    /// </summary>
    public void PutAlong(GpuType t, bool add, GpuMemory o, GpuMemory u, GpuMemory idx, StridedLayout columns, long count, long m, long inner, long axisStride)
    {
        if (count == 0 || m == 0)
        {
            return;
        }
        if (add)
        {
            switch (t)
            {
                case GpuType.Float32: PutAlongAddImpl<float, F32Ops>(o, u, idx, columns, count, m, inner, axisStride); break;
                case GpuType.Float64: PutAlongAddImpl<double, F64Ops>(o, u, idx, columns, count, m, inner, axisStride); break;
                case GpuType.Int32: PutAlongAddImpl<int, I32Ops>(o, u, idx, columns, count, m, inner, axisStride); break;
                case GpuType.Int64: PutAlongAddImpl<long, I64Ops>(o, u, idx, columns, count, m, inner, axisStride); break;
                default: throw new ArgumentException($"put_along_axis adds float32, float64, int32 or int64, not {t}.");
            }
            return;
        }
        switch (ItemSize(t))
        {
            case 1: PutAlongImpl<byte>(o, u, idx, columns, count, m, inner, axisStride); break;
            case 2: PutAlongImpl<ushort>(o, u, idx, columns, count, m, inner, axisStride); break;
            case 4: PutAlongImpl<uint>(o, u, idx, columns, count, m, inner, axisStride); break;
            default: PutAlongImpl<ulong>(o, u, idx, columns, count, m, inner, axisStride); break;
        }
    }

    private void PutAlongImpl<T>(GpuMemory o, GpuMemory u, GpuMemory idx, StridedLayout columns, long count, long m, long inner, long axisStride)
        where T : unmanaged
    {
        var kernel = Kernel("index.putalong", acc => acc.LoadStreamKernel<ArrayView<T>, ArrayView<T>, ArrayView<long>, StridedLayout, long, long, long, long>(IndexingKernels.PutAlong));
        kernel(GridFor(count), o.View<T>(), u.View<T>(), idx.View<long>(), columns, count, m, inner, axisStride);
    }

    private void PutAlongAddImpl<T, TOps>(GpuMemory o, GpuMemory u, GpuMemory idx, StridedLayout columns, long count, long m, long inner, long axisStride)
        where T : unmanaged where TOps : struct, IGpuOps<T>
    {
        var kernel = Kernel("index.putalong", acc => acc.LoadStreamKernel<ArrayView<T>, ArrayView<T>, ArrayView<long>, StridedLayout, long, long, long, long, TOps>(IndexingKernels.PutAlongAdd));
        kernel(GridFor(count), o.View<T>(), u.View<T>(), idx.View<long>(), columns, count, m, inner, axisStride, default);
    }

    /// <summary>Copies <paramref name="n"/> elements between two strided layouts of one logical shape (no type change).</summary>
    public void CopyStrided(int itemSize, GpuMemory src, StridedLayout from, GpuMemory dst, StridedLayout to, long n)
    {
        if (n == 0)
        {
            return;
        }
        switch (itemSize)
        {
            case 1: CopyStridedImpl<byte>(src, from, dst, to, n); break;
            case 2: CopyStridedImpl<ushort>(src, from, dst, to, n); break;
            case 4: CopyStridedImpl<uint>(src, from, dst, to, n); break;
            default: CopyStridedImpl<ulong>(src, from, dst, to, n); break;
        }
    }

    private void CopyStridedImpl<T>(GpuMemory src, StridedLayout from, GpuMemory dst, StridedLayout to, long n) where T : unmanaged
    {
        var kernel = Kernel("index.copystrided", acc => acc.LoadStreamKernel<ArrayView<T>, StridedLayout, ArrayView<T>, StridedLayout, long>(IndexingKernels.CopyStrided));
        kernel(GridFor(n), src.View<T>(), from, dst.View<T>(), to, n);
    }

    /// <summary>Layouts of one logical shape in two operands, collapsed together (each at most 8 dims).</summary>
    public static (StridedLayout From, StridedLayout To) PairLayout(int[] shape, long[] fromStrides, long fromOffset, long[] toStrides, long toOffset)
    {
        var (s, st) = Strided.Collapse(shape, fromStrides, toStrides);
        return (StridedLayout.From(s, st[0], fromOffset), StridedLayout.From(s, st[1], toOffset));
    }

    /// <summary>The collapsed layout of <paramref name="shape"/> with <paramref name="strides"/> from <paramref name="offset"/>.</summary>
    public static StridedLayout LayoutOf(int[] shape, long[] strides, long offset)
    {
        var (s, st) = Strided.Collapse(shape, strides);
        return StridedLayout.From(s, st[0], offset);
    }
}
