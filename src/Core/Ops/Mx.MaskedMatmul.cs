namespace Mlx;

public static partial class Mx
{
    /// <summary>
    /// As mlx.core.block_masked_mm: a @ b with blocks of <paramref name="blockSize"/> (32 or 64) x blockSize masked.
    /// <paramref name="maskLhs"/> (..., ceil(M / bs), ceil(K / bs)) and <paramref name="maskRhs"/> (..., ceil(K / bs),
    /// ceil(N / bs)) apply to the operands' blocks, <paramref name="maskOut"/> (..., ceil(M / bs), ceil(N / bs)) to the
    /// result's: a bool mask zeroes the blocks it marks false (NaNs in them included), a float mask scales each block by
    /// its value. Masks broadcast against the batch dims. Built from ops, so it is differentiable.
    /// </summary>
    public static MxArray BlockMaskedMm(MxArray a, MxArray b, int blockSize = 64, MxArray? maskOut = null, MxArray? maskLhs = null, MxArray? maskRhs = null,
        StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        if (maskOut is null && maskLhs is null && maskRhs is null) return Matmul(a, b);
        if (blockSize is not (32 or 64)) throw new ArgumentException($"block_masked_mm: block size {blockSize} is not supported (32 or 64).");
        if (a.NDim == 0 || b.NDim == 0) throw new ArgumentException("block_masked_mm does not take scalars.");
        bool vecA = a.NDim == 1, vecB = b.NDim == 1;
        if (vecA) a = ExpandDims(a, 0);
        if (vecB) b = ExpandDims(b, 1);
        if (a.ShapeRef[^1] != b.ShapeRef[^2])
        {
            throw new ArgumentException($"block_masked_mm: inner dimensions differ, {MxArray.FormatShape(a.ShapeRef)} @ {MxArray.FormatShape(b.ShapeRef)}.");
        }
        var dt = ResultType(a, b);
        if (!dt.IsFloating()) throw new ArgumentException($"block_masked_mm: only real floating types are supported, not {dt.Name()}.");
        a = AsType(a, dt);
        b = AsType(b, dt);
        int M = a.ShapeRef[^2], K = a.ShapeRef[^1], N = b.ShapeRef[^1];
        // A block mask (..., rows / bs, cols / bs) spread over the (rows, cols) elements it covers, then applied.
        MxArray Apply(MxArray x, MxArray mask, int rows, int cols, string what)
        {
            int tr = (rows + blockSize - 1) / blockSize, tc = (cols + blockSize - 1) / blockSize;
            if (mask.NDim < 2 || mask.ShapeRef[^2] != tr || mask.ShapeRef[^1] != tc)
            {
                throw new ArgumentException($"block_masked_mm: {what} mask {MxArray.FormatShape(mask.ShapeRef)} does not end in ({tr}, {tc}) blocks.");
            }
            if (!mask.DType.IsFloating() && mask.DType != DType.Bool)
            {
                throw new ArgumentException($"block_masked_mm: masks are bool or floating point, not {mask.DType.Name()}.");
            }
            var batch = mask.ShapeRef[..^2];
            var spread = BroadcastTo(Reshape(mask, batch.Concat(new[] { tr, 1, tc, 1 }).ToArray()), batch.Concat(new[] { tr, blockSize, tc, blockSize }).ToArray());
            var full = Reshape(spread, batch.Concat(new[] { tr * blockSize, tc * blockSize }).ToArray());
            var start = new int[full.NDim];
            var stop = full.Shape;
            stop[^2] = rows;
            stop[^1] = cols;
            full = Slice(full, start, stop);
            return mask.DType == DType.Bool ? Where(full, x, ZerosLike(x)) : Multiply(x, AsType(full, dt));
        }
        if (vecA) { maskLhs = maskLhs is null ? null : ExpandDims(maskLhs, -2); maskOut = maskOut is null ? null : ExpandDims(maskOut, -2); }
        if (vecB) { maskRhs = maskRhs is null ? null : ExpandDims(maskRhs, -1); maskOut = maskOut is null ? null : ExpandDims(maskOut, -1); }
        if (maskLhs is not null) a = Apply(a, maskLhs, M, K, "lhs");
        if (maskRhs is not null) b = Apply(b, maskRhs, K, N, "rhs");
        var r = Matmul(a, b);
        if (maskOut is not null) r = Apply(r, maskOut, M, N, "output");
        if (vecA) r = Squeeze(r, -2);
        if (vecB) r = Squeeze(r, -1);
        return r;
    }

    /// <summary>
    /// As mlx.core.segmented_mm: for each pair (start, end) of <paramref name="segments"/> (..., 2), the product of a's
    /// columns and b's rows in [start, end): a (M, K), b (K, N), the result (..., M, N) (an empty segment gives zeros).
    /// Not differentiable, as in MLX.
    /// </summary>
    public static MxArray SegmentedMm(MxArray a, MxArray b, MxArray segments, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        if (a.NDim != 2 || b.NDim != 2) throw new ArgumentException("segmented_mm: a and b must be 2-D (batches are not supported, as in MLX).");
        if (a.ShapeRef[1] != b.ShapeRef[0]) throw new ArgumentException($"segmented_mm: inner dimensions differ, {MxArray.FormatShape(a.ShapeRef)} @ {MxArray.FormatShape(b.ShapeRef)}.");
        if (segments.NDim < 1 || segments.ShapeRef[^1] != 2)
        {
            throw new ArgumentException($"segmented_mm: segments must have shape (..., 2), not {MxArray.FormatShape(segments.ShapeRef)}.");
        }
        if (!segments.DType.IsInteger()) throw new ArgumentException($"segmented_mm: segments must be integers, not {segments.DType.Name()}.");
        var dt = ResultType(a, b);
        if (!dt.IsFloating()) throw new ArgumentException($"segmented_mm: only real floating types are supported, not {dt.Name()}.");
        var shape = segments.ShapeRef[..^1].Append(a.ShapeRef[0]).Append(b.ShapeRef[1]).ToArray();
        return MxArray.Create(shape, dt, new SegmentedMmPrimitive(), AsType(a, dt), AsType(b, dt), segments);
    }
}
