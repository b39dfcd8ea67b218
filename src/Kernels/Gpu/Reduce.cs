using ILGPU;
using ILGPU.Runtime;
using Mlx.Kernels;

namespace Mlx.Kernels.Gpu;

/// <summary>
/// Reductions and arg-reductions. An output element's inputs are found through two layouts: <c>outer</c> over the
/// kept dims (holding the operand's offset) and <c>inner</c> over the reduced dims, so no transposing copy is made.
/// Short reductions run a thread per output; long ones a group per output (split into chunks when there are too few
/// outputs to fill the device, then a second pass over the partial results).
/// </summary>
internal static class ReduceKernels
{
    /// <summary>The shared-memory size of group kernels; groups are never larger.</summary>
    public const int MaxGroupSize = 256;

    /// <summary>Tree reduction of one value per thread, for any group size; every thread gets the result.</summary>
    /// <remarks>
    /// Warp shuffles and one shared-memory step instead (two barriers where this takes nine for 256 threads) measured
    /// no faster on an H100 (row sums 0.057 -> 0.061 ms, softmax 0.143 -> 0.146), and one token through a 4-bit
    /// 4096^2 weight took 0.104 ms against 0.078 ms (perf/results/gpu-check-h100-run11.md), so the tree stays.
    /// </remarks>
    public static T GroupReduce<T, TOps>(ArrayView<T> shared, T value, int op, TOps ops)
        where T : unmanaged where TOps : struct, IGpuOps<T>
    {
        int tid = Group.IdxX, n = Group.DimX;
        shared[tid] = value;
        Group.Barrier();
        // Pairs (tid, tid + s): the lower index stays on the left, so the order of elements is kept.
        for (int s = 1; s < n; s <<= 1)
        {
            if ((tid & ((s << 1) - 1)) == 0 && tid + s < n)
            {
                shared[tid] = ops.Binary(op, shared[tid], shared[tid + s]);
            }
            Group.Barrier();
        }
        T result = shared[0];
        // Nobody may overwrite shared[0] before every thread has read it.
        Group.Barrier();
        return result;
    }

    // Output v is chunk (v / nOut) of the reduction of output (v % nOut): neighbouring threads take neighbouring
    // outputs, so reads down columns are coalesced.
    public static void Rows<T, TOps>(ArrayView<T> x, StridedLayout outer, StridedLayout inner, ArrayView<T> o, long nOut, long chunks, long chunkLen, long k, int op, T identity, TOps ops)
        where T : unmanaged where TOps : struct, IGpuOps<T>
    {
        long stride = (long)Grid.DimX * Group.DimX, n = nOut * chunks;
        for (long v = Grid.GlobalIndex.X; v < n; v += stride)
        {
            long c = v / nOut;
            long begin = c * chunkLen;
            long end = begin + chunkLen < k ? begin + chunkLen : k;
            long start = outer.Offset(v - c * nOut);
            T acc = identity;
            for (long j = begin; j < end; j++)
            {
                acc = ops.Binary(op, acc, x[start + inner.Offset(j)]);
            }
            o[v] = acc;
        }
    }

    /// <summary>Work item v of a split row: row v / chunks, its elements [begin, end) of k in chunks of chunkLen.</summary>
    public static (long Row, long Begin, long End) Chunk(long v, long chunks, long chunkLen, long k)
    {
        long row = v / chunks;
        long begin = (v - row * chunks) * chunkLen;
        return (row, begin, begin + chunkLen < k ? begin + chunkLen : k);
    }

    // Output v is chunk (v % chunks) of the reduction of output (v / chunks).
    public static void Groups<T, TOps>(ArrayView<T> x, StridedLayout outer, StridedLayout inner, ArrayView<T> o, long nOut, long chunks, long chunkLen, long k, int op, T identity, TOps ops)
        where T : unmanaged where TOps : struct, IGpuOps<T>
    {
        var shared = SharedMemory.Allocate<T>(MaxGroupSize);
        long groups = Grid.DimX, n = nOut * chunks;
        int tid = Group.IdxX, size = Group.DimX;
        for (long v = Grid.IdxX; v < n; v += groups)
        {
            var (i, begin, end) = Chunk(v, chunks, chunkLen, k);
            long start = outer.Offset(i);
            T acc = identity;
            for (long j = begin + tid; j < end; j += size)
            {
                acc = ops.Binary(op, acc, x[start + inner.Offset(j)]);
            }
            acc = GroupReduce(shared, acc, op, ops);
            if (tid == 0)
            {
                o[v] = acc;
            }
        }
    }

    /// <summary>
    /// <see cref="Groups"/> for rows of consecutive elements that start, like their chunks, at multiples of four: each
    /// thread reads four elements per access (see <see cref="Quad{T}"/>), the last k % 4 one by one.
    /// </summary>
    public static void QuadGroups<T, TOps>(ArrayView<T> x, StridedLayout outer, ArrayView<T> o, long nOut, long chunks, long chunkLen, long k, int op, T identity, TOps ops)
        where T : unmanaged where TOps : struct, IGpuOps<T>
    {
        var shared = SharedMemory.Allocate<T>(MaxGroupSize);
        var x4 = x.Cast<Quad<T>>();
        long groups = Grid.DimX, n = nOut * chunks;
        int tid = Group.IdxX, size = Group.DimX;
        for (long v = Grid.IdxX; v < n; v += groups)
        {
            var (i, begin, end) = Chunk(v, chunks, chunkLen, k);
            long start = outer.Offset(i) + begin, stop = outer.Offset(i) + end;
            T acc = identity;
            for (long q = (start >> 2) + tid; q < stop >> 2; q += size)
            {
                var u = x4[q];
                for (int lane = 0; lane < 4; lane++)
                {
                    acc = ops.Binary(op, acc, u[lane]);
                }
            }
            for (long j = (stop & ~3L) + tid; j < stop; j += size)
            {
                acc = ops.Binary(op, acc, x[j]);
            }
            acc = GroupReduce(shared, acc, op, ops);
            if (tid == 0)
            {
                o[v] = acc;
            }
        }
    }

    // (v, i) beats (best, bi): NaN beats everything, then the larger (smaller) value, then the lower index.
    private static bool Beats<T, TOps>(T v, long i, T best, long bi, bool max, TOps ops)
        where T : unmanaged where TOps : struct, IGpuOps<T>
    {
        bool vNaN = ops.Compare((int)BinaryOp.NotEqual, v, v), bestNaN = ops.Compare((int)BinaryOp.NotEqual, best, best);
        if (vNaN || bestNaN)
        {
            return vNaN && (!bestNaN || i < bi);
        }
        return ops.Compare(max ? (int)BinaryOp.Greater : (int)BinaryOp.Less, v, best) || (ops.Compare((int)BinaryOp.Equal, v, best) && i < bi);
    }

    public static void ArgRows<T, TOps>(ArrayView<T> x, StridedLayout outer, long axisStride, ArrayView<uint> o, long nOut, long k, int max, TOps ops)
        where T : unmanaged where TOps : struct, IGpuOps<T>
    {
        long stride = (long)Grid.DimX * Group.DimX;
        for (long i = Grid.GlobalIndex.X; i < nOut; i += stride)
        {
            long start = outer.Offset(i);
            T best = x[start];
            long bi = 0;
            for (long j = 1; j < k; j++)
            {
                T v = x[start + j * axisStride];
                if (Beats(v, j, best, bi, max != 0, ops))
                {
                    best = v;
                    bi = j;
                }
            }
            o[i] = (uint)bi;
        }
    }

    // Output v is chunk (v % chunks) of output (v / chunks): with one chunk, the index goes to o; with more, the
    // chunk's winner (value and index) goes to values and indices for ArgCombine.
    public static void ArgGroups<T, TOps>(ArrayView<T> x, StridedLayout outer, long axisStride, ArrayView<uint> o, ArrayView<T> values, ArrayView<long> indices,
        long nOut, long chunks, long chunkLen, long k, int max, TOps ops)
        where T : unmanaged where TOps : struct, IGpuOps<T>
    {
        var sv = SharedMemory.Allocate<T>(MaxGroupSize);
        var si = SharedMemory.Allocate<long>(MaxGroupSize);
        long groups = Grid.DimX, n = nOut * chunks;
        int tid = Group.IdxX, size = Group.DimX;
        bool isMax = max != 0;
        for (long v = Grid.IdxX; v < n; v += groups)
        {
            var (i, begin, end) = Chunk(v, chunks, chunkLen, k);
            long start = outer.Offset(i);
            // A thread past the end holds index k, which loses to any real element.
            long first = begin + tid;
            long bi = first < end ? first : k;
            T best = x[start + (first < end ? first : begin) * axisStride];
            for (long j = first + size; j < end; j += size)
            {
                T xj = x[start + j * axisStride];
                if (Beats(xj, j, best, bi, isMax, ops))
                {
                    best = xj;
                    bi = j;
                }
            }
            sv[tid] = best;
            si[tid] = bi;
            Group.Barrier();
            for (int s = 1; s < size; s <<= 1)
            {
                if ((tid & ((s << 1) - 1)) == 0 && tid + s < size)
                {
                    long oi = si[tid + s];
                    if (oi < k && (si[tid] >= k || Beats(sv[tid + s], oi, sv[tid], si[tid], isMax, ops)))
                    {
                        sv[tid] = sv[tid + s];
                        si[tid] = oi;
                    }
                }
                Group.Barrier();
            }
            if (tid == 0)
            {
                if (chunks == 1)
                {
                    o[i] = (uint)si[0];
                }
                else
                {
                    values[v] = sv[0];
                    indices[v] = si[0];
                }
            }
            Group.Barrier();
        }
    }

    // The winners of an output's chunks (none empty), in order.
    public static void ArgCombine<T, TOps>(ArrayView<T> values, ArrayView<long> indices, ArrayView<uint> o, long nOut, long chunks, int max, TOps ops)
        where T : unmanaged where TOps : struct, IGpuOps<T>
    {
        long stride = (long)Grid.DimX * Group.DimX;
        for (long i = Grid.GlobalIndex.X; i < nOut; i += stride)
        {
            T best = values[i * chunks];
            long bi = indices[i * chunks];
            for (long c = 1; c < chunks; c++)
            {
                T v = values[i * chunks + c];
                long vi = indices[i * chunks + c];
                if (Beats(v, vi, best, bi, max != 0, ops))
                {
                    best = v;
                    bi = vi;
                }
            }
            o[i] = (uint)bi;
        }
    }
}

public sealed partial class GpuDevice
{
    // Below this many elements per output a thread reduces one output alone.
    private const long ShortReduction = 32;

    private int ReduceGroupSize => Math.Min(GroupSize, ReduceKernels.MaxGroupSize);

    /// <summary>
    /// Reduces the dims flagged in <paramref name="reduced"/> of <paramref name="x"/> (compute type <paramref name="t"/>,
    /// any strides) with <paramref name="op"/> (Add, Multiply, Maximum or Minimum; max and min propagate NaN) into
    /// row-major <paramref name="o"/> over the kept dims. An empty reduction gives the identity.
    /// </summary>
    public void Reduce(BinaryOp op, GpuType t, GpuOperand x, bool[] reduced, GpuMemory o)
    {
        var (outer, inner, nOut, k) = ReduceLayouts(x, reduced);
        if (nOut == 0)
        {
            return;
        }
        switch (t)
        {
            case GpuType.Float32: ReduceImpl<float, F32Ops>(op, x.Memory, outer, inner, o, nOut, k); break;
            case GpuType.Float64: ReduceImpl<double, F64Ops>(op, x.Memory, outer, inner, o, nOut, k); break;
            case GpuType.Int32: ReduceImpl<int, I32Ops>(op, x.Memory, outer, inner, o, nOut, k); break;
            case GpuType.Int64: ReduceImpl<long, I64Ops>(op, x.Memory, outer, inner, o, nOut, k); break;
            case GpuType.UInt32: ReduceImpl<uint, U32Ops>(op, x.Memory, outer, inner, o, nOut, k); break;
            case GpuType.UInt64: ReduceImpl<ulong, U64Ops>(op, x.Memory, outer, inner, o, nOut, k); break;
            default: throw new ArgumentException($"Reductions compute in 32/64-bit types, not {t}.");
        }
    }

    /// <summary>
    /// The identity of <paramref name="op"/> in <typeparamref name="T"/>: what an empty reduction gives and an
    /// exclusive scan starts from (max and logaddexp from -inf, min from +inf in floats, as the CPU kernels).
    /// </summary>
    private static T Identity<T>(BinaryOp op) where T : unmanaged
    {
        bool add = op == BinaryOp.Add, mul = op == BinaryOp.Multiply, max = op is BinaryOp.Maximum or BinaryOp.LogAddExp;
        object v = default(T) switch
        {
            float => (object)(add ? 0f : mul ? 1f : max ? float.NegativeInfinity : float.PositiveInfinity),
            double => (object)(add ? 0d : mul ? 1d : max ? double.NegativeInfinity : double.PositiveInfinity),
            int => (object)(add ? 0 : mul ? 1 : max ? int.MinValue : int.MaxValue),
            long => (object)(add ? 0L : mul ? 1L : max ? long.MinValue : long.MaxValue),
            uint => (object)(add ? 0u : mul ? 1u : max ? 0u : uint.MaxValue),
            _ => (object)(add ? 0UL : mul ? 1UL : max ? 0UL : ulong.MaxValue),
        };
        return (T)v;
    }

    private static (StridedLayout Outer, StridedLayout Inner, long NOut, long K) ReduceLayouts(GpuOperand x, bool[] reduced)
    {
        var kept = Enumerable.Range(0, x.Shape.Length).Where(i => !reduced[i]).ToArray();
        // The order of reduced elements is free (the ops commute): walk them in memory order, negative strides
        // flipped, so that they merge into as few and as contiguous dims as possible.
        long innerStart = 0;
        var red = Enumerable.Range(0, x.Shape.Length).Where(i => reduced[i]).OrderByDescending(i => Math.Abs(x.Strides[i])).ToArray();
        var redStrides = red.Select(i => x.Strides[i]).ToArray();
        for (int d = 0; d < red.Length; d++)
        {
            if (redStrides[d] < 0)
            {
                innerStart += (x.Shape[red[d]] - 1) * redStrides[d];
                redStrides[d] = -redStrides[d];
            }
        }
        var keptShape = kept.Select(i => x.Shape[i]).ToArray();
        var redShape = red.Select(i => x.Shape[i]).ToArray();
        var (ks, kst) = Strided.Collapse(keptShape, kept.Select(i => x.Strides[i]).ToArray());
        var (rs, rst) = Strided.Collapse(redShape, redStrides);
        return (StridedLayout.From(ks, kst[0], x.Offset), StridedLayout.From(rs, rst[0], innerStart), Count(keptShape), Count(redShape));
    }

    private void ReduceImpl<T, TOps>(BinaryOp op, GpuMemory x, StridedLayout outer, StridedLayout inner, GpuMemory o, long nOut, long k)
        where T : unmanaged where TOps : struct, IGpuOps<T>
    {
        T identity = Identity<T>(op);
        int groupSize = ReduceGroupSize;
        long size = System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
        if (k > ShortReduction && inner.S0 == 1)
        {
            // Rows contiguous in memory: a group per output. Few outputs: each split into chunks (at least a few
            // elements per thread) so that every group has work, then the chunks reduced as rows of their own.
            long chunks = nOut >= MaxGroups ? 1 : Math.Clamp(MaxGroups / nOut, 1, (k + groupSize * 4 - 1) / (groupSize * 4));
            long chunkLen = (k + chunks - 1) / chunks;
            // Rows of consecutive elements at multiples of four (chunks too) are read four elements at a time.
            bool quads = inner.NDim == 1 && outer.Aligned(4);
            if (quads)
            {
                chunkLen = (chunkLen + 3) & ~3L;
            }
            chunks = (k + chunkLen - 1) / chunkLen;
            var target = chunks == 1 ? o : Allocate(nOut * chunks * size);
            if (quads)
            {
                var quadGroups = Kernel("reduce.quadgroups", a => a.LoadStreamKernel<ArrayView<T>, StridedLayout, ArrayView<T>, long, long, long, long, int, T, TOps>(ReduceKernels.QuadGroups));
                quadGroups(GroupsFor(nOut * chunks, groupSize), x.View<T>(), outer, target.View<T>(), nOut, chunks, chunkLen, k, (int)op, identity, default);
            }
            else
            {
                ReduceGroupsKernel<T, TOps>()(GroupsFor(nOut * chunks, groupSize), x.View<T>(), outer, inner, target.View<T>(), nOut, chunks, chunkLen, k, (int)op, identity, default);
            }
            if (chunks > 1)
            {
                ReduceImpl<T, TOps>(op, target, StridedLayout.From(new[] { nOut }, new[] { chunks }, 0), StridedLayout.From(new[] { chunks }, new[] { 1L }, 0), o, nOut, chunks);
                Release(target);
            }
            return;
        }
        // Short or strided rows: a thread per output. Too few outputs to fill the device: each split into chunks of
        // at least ShortReduction elements, stored chunk-major, then reduced down their columns the same way.
        var rows = Kernel("reduce.rows", a => a.LoadStreamKernel<ArrayView<T>, StridedLayout, StridedLayout, ArrayView<T>, long, long, long, long, int, T, TOps>(ReduceKernels.Rows));
        long threads = (long)MaxGroups * GroupSize;
        long parts = nOut >= threads || k <= ShortReduction ? 1 : Math.Min(threads / nOut, (k + ShortReduction - 1) / ShortReduction);
        long partLen = (k + parts - 1) / parts;
        parts = parts == 1 ? 1 : (k + partLen - 1) / partLen;
        var dst = parts == 1 ? o : Allocate(nOut * parts * size);
        rows(GridFor(nOut * parts), x.View<T>(), outer, inner, dst.View<T>(), nOut, parts, partLen, k, (int)op, identity, default);
        if (parts > 1)
        {
            ReduceImpl<T, TOps>(op, dst, StridedLayout.From(new[] { nOut }, new[] { 1L }, 0), StridedLayout.From(new[] { parts }, new[] { nOut }, 0), o, nOut, parts);
            Release(dst);
        }
    }

    private Action<KernelConfig, ArrayView<T>, StridedLayout, StridedLayout, ArrayView<T>, long, long, long, long, int, T, TOps> ReduceGroupsKernel<T, TOps>()
        where T : unmanaged where TOps : struct, IGpuOps<T> =>
        Kernel("reduce.groups", a => a.LoadStreamKernel<ArrayView<T>, StridedLayout, StridedLayout, ArrayView<T>, long, long, long, long, int, T, TOps>(ReduceKernels.Groups));

    private KernelConfig GroupsFor(long n, int groupSize) => new((int)Math.Clamp(n, 1, MaxGroups), groupSize);

    /// <summary>
    /// Index of the first maximum (minimum) along dim <paramref name="axis"/> of <paramref name="x"/> (compute type
    /// <paramref name="t"/>, any strides), a NaN winning over numbers, into row-major uint32 <paramref name="o"/> over the other dims.
    /// </summary>
    public void ArgReduce(bool max, GpuType t, GpuOperand x, int axis, GpuMemory o)
    {
        var reduced = new bool[x.Shape.Length];
        reduced[axis] = true;
        var (outer, _, nOut, k) = ReduceLayouts(x, reduced);
        if (nOut == 0 || k == 0)
        {
            return;
        }
        long axisStride = x.Strides[axis];
        switch (t)
        {
            case GpuType.Float32: ArgReduceImpl<float, F32Ops>(max, x.Memory, outer, axisStride, o, nOut, k); break;
            case GpuType.Float64: ArgReduceImpl<double, F64Ops>(max, x.Memory, outer, axisStride, o, nOut, k); break;
            case GpuType.Int32: ArgReduceImpl<int, I32Ops>(max, x.Memory, outer, axisStride, o, nOut, k); break;
            case GpuType.Int64: ArgReduceImpl<long, I64Ops>(max, x.Memory, outer, axisStride, o, nOut, k); break;
            case GpuType.UInt32: ArgReduceImpl<uint, U32Ops>(max, x.Memory, outer, axisStride, o, nOut, k); break;
            case GpuType.UInt64: ArgReduceImpl<ulong, U64Ops>(max, x.Memory, outer, axisStride, o, nOut, k); break;
            default: throw new ArgumentException($"Arg-reductions compute in 32/64-bit types, not {t}.");
        }
    }

    private void ArgReduceImpl<T, TOps>(bool max, GpuMemory x, StridedLayout outer, long axisStride, GpuMemory o, long nOut, long k)
        where T : unmanaged where TOps : struct, IGpuOps<T>
    {
        int groupSize = ReduceGroupSize;
        if (k <= ShortReduction || (axisStride != 1 && nOut >= (long)MaxGroups * groupSize))
        {
            var rows = Kernel("argreduce.rows", a => a.LoadStreamKernel<ArrayView<T>, StridedLayout, long, ArrayView<uint>, long, long, int, TOps>(ReduceKernels.ArgRows));
            rows(GridFor(nOut), x.View<T>(), outer, axisStride, o.View<uint>(), nOut, k, max ? 1 : 0, default);
            return;
        }
        var groups = Kernel("argreduce.groups", a => a.LoadStreamKernel<ArrayView<T>, StridedLayout, long, ArrayView<uint>, ArrayView<T>, ArrayView<long>, long, long, long, long, int, TOps>(ReduceKernels.ArgGroups));
        // Few outputs: each split into chunks, as the reductions are, and the chunks' winners combined by a thread.
        long chunks = nOut >= MaxGroups ? 1 : Math.Clamp(MaxGroups / nOut, 1, (k + groupSize * 4 - 1) / (groupSize * 4));
        long chunkLen = (k + chunks - 1) / chunks;
        chunks = (k + chunkLen - 1) / chunkLen;
        var values = chunks == 1 ? x : Allocate(nOut * chunks * System.Runtime.CompilerServices.Unsafe.SizeOf<T>());
        var indices = chunks == 1 ? o : Allocate(nOut * chunks * sizeof(long));
        groups(GroupsFor(nOut * chunks, groupSize), x.View<T>(), outer, axisStride, o.View<uint>(), values.View<T>(), indices.View<long>(), nOut, chunks, chunkLen, k, max ? 1 : 0, default);
        if (chunks > 1)
        {
            var combine = Kernel("argreduce.combine", a => a.LoadStreamKernel<ArrayView<T>, ArrayView<long>, ArrayView<uint>, long, long, int, TOps>(ReduceKernels.ArgCombine));
            combine(GridFor(nOut), values.View<T>(), indices.View<long>(), o.View<uint>(), nOut, chunks, max ? 1 : 0, default);
            Release(values);
            Release(indices);
        }
    }
}
