namespace Mlx;

/// <summary>MLX's quantization modes.</summary>
public enum QuantizationMode
{
    /// <summary>2, 3, 4, 5, 6 or 8 bits per value with a scale and a bias per group of 32, 64 or 128 (defaults 4 and 64).</summary>
    Affine,

    /// <summary>4-bit E2M1 values in groups of 32 with a power-of-two (E8M0) scale.</summary>
    Mxfp4,

    /// <summary>8-bit E4M3 values in groups of 32 with a power-of-two (E8M0) scale.</summary>
    Mxfp8,

    /// <summary>4-bit E2M1 values in groups of 16 with an E4M3 scale (and an optional float32 global scale).</summary>
    Nvfp4,
}

public static partial class Mx
{
    /// <summary>
    /// Quantizes the last axis of <paramref name="w"/> (at least 2-D, float, last dim divisible by the group size) in
    /// groups, as mlx.core.quantize: returns the codes packed into uint32 (last dim K * bits / 32), the scales and, for
    /// <see cref="QuantizationMode.Affine"/>, the biases (last dim K / groupSize each, in w's dtype), so that
    /// dequantize(codes, scales, biases) approximates w. The packed form is MLX's: weights quantized by MLX load here.
    /// </summary>
    public static (MxArray Weights, MxArray Scales, MxArray? Biases) Quantize(MxArray w, int? groupSize = null, int? bits = null,
        QuantizationMode mode = QuantizationMode.Affine, MxArray? globalScale = null, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        var (gs, b) = QuantizationParams(mode, groupSize, bits, "quantize");
        if (!w.DType.IsFloating())
        {
            throw new ArgumentException($"quantize: only real floating-point arrays can be quantized, not {w.DType.Name()}.");
        }
        if (w.NDim < 2)
        {
            throw new ArgumentException($"quantize: the array must have at least 2 dimensions, not shape {MxArray.FormatShape(w.ShapeRef)}.");
        }
        if (w.ShapeRef[^1] % gs != 0)
        {
            throw new ArgumentException($"quantize: the last dimension of shape {MxArray.FormatShape(w.ShapeRef)} is not divisible by the group size {gs}.");
        }
        CheckGlobalScale(mode, globalScale, "quantize");
        if (mode != QuantizationMode.Affine)
        {
            var (codes, fpScales) = FpQuantize(w, mode, globalScale);
            return (codes, fpScales, null);
        }
        var src = w.DType == DType.Float64 ? AsType(w, DType.Float32) : w;
        var codesShape = (int[])w.Shape;
        codesShape[^1] = w.ShapeRef[^1] * b / 32;
        var groupShape = (int[])w.Shape;
        groupShape[^1] = w.ShapeRef[^1] / gs;
        var outs = MxArray.Create(new[] { codesShape, groupShape, groupShape }, new[] { DType.UInt32, src.DType, src.DType },
            new AffineQuantizePrimitive(gs, b), new[] { src });
        return (outs[0], AsType(outs[1], w.DType), AsType(outs[2], w.DType));
    }

    /// <summary>
    /// The inverse of <see cref="Quantize"/>: scales * q + biases (affine) or scales * value (the floating-point
    /// modes), in <paramref name="dtype"/> (default: the scales' and biases' dtype; bfloat16 for the floating-point modes).
    /// </summary>
    public static MxArray Dequantize(MxArray w, MxArray scales, MxArray? biases = null, int? groupSize = null, int? bits = null,
        QuantizationMode mode = QuantizationMode.Affine, MxArray? globalScale = null, DType? dtype = null, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        var (gs, b) = QuantizationParams(mode, groupSize, bits, "dequantize");
        var outType = QuantizedOutputType(scales, biases, dtype, mode, "dequantize");
        CheckQuantizedShapes(w, scales, biases, gs, b, "dequantize");
        if (w.NDim != scales.NDim || !w.ShapeRef[..^1].SequenceEqual(scales.ShapeRef[..^1]))
        {
            throw new ArgumentException($"dequantize: the shape of the scales {MxArray.FormatShape(scales.ShapeRef)} does not match the codes {MxArray.FormatShape(w.ShapeRef)}.");
        }
        CheckGlobalScale(mode, globalScale, "dequantize");
        if (mode != QuantizationMode.Affine)
        {
            return FpDequantize(w, scales, mode, globalScale, outType);
        }
        var ct = outType == DType.Float64 ? DType.Float32 : outType;
        var r = MxArray.Create(DequantizedShape(w, b), ct, new AffineDequantizePrimitive(gs, b), w, AsType(scales, ct), AsType(biases!, ct));
        return AsType(r, outType);
    }

    /// <summary>
    /// x @ dequantize(w)^T (<paramref name="transpose"/>, the default: w holds the (N, K) weight of a linear layer) or
    /// x @ dequantize(w), as mlx.core.quantized_matmul, without expanding the weight: one or a few rows of x read the
    /// packed codes directly. Batch dims of x and w broadcast. Differentiable in x, the scales and the biases.
    /// </summary>
    public static MxArray QuantizedMatmul(MxArray x, MxArray w, MxArray scales, MxArray? biases = null, bool transpose = true,
        int? groupSize = null, int? bits = null, QuantizationMode mode = QuantizationMode.Affine, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        var (gs, b) = QuantizationParams(mode, groupSize, bits, "quantized_matmul");
        var scaleType = QuantizedOutputType(scales, biases, null, mode, "quantized_matmul");
        CheckQuantizedShapes(w, scales, biases, gs, b, "quantized_matmul");
        if (w.NDim < 2) throw new ArgumentException($"quantized_matmul: the quantized matrix must have at least 2 dimensions, not shape {MxArray.FormatShape(w.ShapeRef)}.");
        if (x.NDim == 0) throw new ArgumentException("quantized_matmul does not take a scalar x.");
        int inner = transpose ? w.ShapeRef[^1] * 32 / b : w.ShapeRef[^2];
        int outer = transpose ? w.ShapeRef[^2] : w.ShapeRef[^1] * 32 / b;
        if (x.ShapeRef[^1] != inner)
        {
            throw new ArgumentException($"quantized_matmul: the last dimension of x {MxArray.FormatShape(x.ShapeRef)} does not match the quantized matrix "
                + $"({inner}, {outer}) of codes {MxArray.FormatShape(w.ShapeRef)} with group size {gs}, {b} bits and transpose={transpose}.");
        }
        var dt = mode == QuantizationMode.Affine ? DTypes.Promote(x.DType, scaleType) : x.DType;
        if (!dt.IsFloating())
        {
            throw new ArgumentException($"quantized_matmul: only real floating types are supported, not {dt.Name()}.");
        }
        if (dt == DType.Float64)
        {
            // float64 through the dequantized weight (the kernels compute in float32).
            var dense = Dequantize(w, scales, biases, gs, b, mode, dtype: dt);
            return Matmul(AsType(x, dt), transpose ? SwapAxes(dense, -1, -2) : dense);
        }
        bool affine = mode == QuantizationMode.Affine;
        x = AsType(x, dt);
        if (affine)
        {
            scales = AsType(scales, dt);
            biases = AsType(biases!, dt);
        }
        if (w.NDim > 2)
        {
            if (x.NDim < 2) x = ExpandDims(x, 0);
            var batch = Shapes.Broadcast(x.ShapeRef[..^2], w.ShapeRef[..^2]);
            x = BroadcastTo(x, batch.Concat(x.ShapeRef[^2..]).ToArray());
            w = BroadcastTo(w, batch.Concat(w.ShapeRef[^2..]).ToArray());
            scales = BroadcastTo(scales, batch.Concat(scales.ShapeRef[^2..]).ToArray());
            if (affine) biases = BroadcastTo(biases!, batch.Concat(biases!.ShapeRef[^2..]).ToArray());
        }
        var shape = (int[])x.Shape;
        shape[^1] = outer;
        var inputs = affine ? new[] { x, w, scales, biases! } : new[] { x, w, scales };
        return MxArray.Create(shape, dt, new QuantizedMatmulPrimitive(gs, b, transpose, mode), inputs);
    }

    internal static int[] DequantizedShape(MxArray w, int bits)
    {
        var shape = (int[])w.Shape;
        shape[^1] = w.ShapeRef[^1] * 32 / bits;
        return shape;
    }

    // The group size and bits of a mode (MLX's defaults where not given), checked against what the mode supports.
    private static (int GroupSize, int Bits) QuantizationParams(QuantizationMode mode, int? groupSize, int? bits, string op)
    {
        var (dg, db) = mode switch
        {
            QuantizationMode.Affine => (64, 4),
            QuantizationMode.Mxfp4 => (32, 4),
            QuantizationMode.Mxfp8 => (32, 8),
            QuantizationMode.Nvfp4 => (16, 4),
            _ => throw new ArgumentException($"{op}: unknown quantization mode {mode}."),
        };
        int gs = groupSize ?? dg, b = bits ?? db;
        if (mode == QuantizationMode.Affine)
        {
            if (gs is not (32 or 64 or 128)) throw new ArgumentException($"{op}: group size {gs} is not supported (32, 64 or 128).");
            if (b is < 2 or > 8 or 7) throw new ArgumentException($"{op}: {b} bits are not supported (2, 3, 4, 5, 6 or 8).");
        }
        else
        {
            if (gs != dg) throw new ArgumentException($"{op}: {mode} quantization uses groups of {dg}, not {gs}.");
            if (b != db) throw new ArgumentException($"{op}: {mode} quantization uses {db} bits, not {b}.");
        }
        return (gs, b);
    }

    // The dtype the dequantized values take: the scales' and biases' (affine; floating), else bfloat16 or the one asked.
    private static DType QuantizedOutputType(MxArray scales, MxArray? biases, DType? dtype, QuantizationMode mode, string op)
    {
        if (dtype is DType d && (!d.IsFloating()))
        {
            throw new ArgumentException($"{op}: only real floating output types are supported, not {d.Name()}.");
        }
        if (mode == QuantizationMode.Affine)
        {
            if (biases is null) throw new ArgumentException($"{op}: affine quantization needs biases.");
            var st = ResultType(scales, biases);
            if (!st.IsFloating())
            {
                throw new ArgumentException($"{op}: scales and biases must be real floating-point, not {scales.DType.Name()} and {biases.DType.Name()}.");
            }
            return dtype ?? st;
        }
        if (biases is not null) throw new ArgumentException($"{op}: {mode} quantization takes no biases.");
        if (scales.DType != DType.UInt8) throw new ArgumentException($"{op}: {mode} scales must be uint8, not {scales.DType.Name()}.");
        return dtype ?? DType.BFloat16;
    }

    // MLX's checks of a quantized matrix against its scales (and biases): uint32 codes, equal batch dims, and a last
    // dimension that holds exactly the groups the scales describe.
    private static void CheckQuantizedShapes(MxArray w, MxArray scales, MxArray? biases, int gs, int bits, string op)
    {
        if (w.DType != DType.UInt32) throw new ArgumentException($"{op}: the quantized matrix must be uint32, not {w.DType.Name()}.");
        if (biases is not null && !scales.ShapeRef.SequenceEqual(biases.ShapeRef))
        {
            throw new ArgumentException($"{op}: scales {MxArray.FormatShape(scales.ShapeRef)} and biases {MxArray.FormatShape(biases.ShapeRef)} differ in shape.");
        }
        if (w.NDim == 0 || scales.NDim != w.NDim || !w.ShapeRef[..^2].SequenceEqual(scales.ShapeRef[..^2])
            || (w.NDim >= 2 && w.ShapeRef[^2] != scales.ShapeRef[^2]))
        {
            throw new ArgumentException($"{op}: the quantized matrix {MxArray.FormatShape(w.ShapeRef)} and its scales {MxArray.FormatShape(scales.ShapeRef)} differ in their leading dimensions.");
        }
        if ((long)w.ShapeRef[^1] * 32 != (long)scales.ShapeRef[^1] * gs * bits)
        {
            throw new ArgumentException($"{op}: codes {MxArray.FormatShape(w.ShapeRef)} and scales {MxArray.FormatShape(scales.ShapeRef)} do not match "
                + $"group size {gs} and {bits} bits.");
        }
    }

    private static void CheckGlobalScale(QuantizationMode mode, MxArray? globalScale, string op)
    {
        if (globalScale is null) return;
        if (mode != QuantizationMode.Nvfp4) throw new ArgumentException($"{op}: a global scale is only used by nvfp4 quantization.");
        if (globalScale.Size != 1) throw new ArgumentException($"{op}: the global scale must hold one value, not shape {MxArray.FormatShape(globalScale.ShapeRef)}.");
        if (globalScale.DType != DType.Float32) throw new ArgumentException($"{op}: the global scale must be float32, not {globalScale.DType.Name()}.");
    }
}

public static partial class Mx
{
    /// <summary>Rounds to 8-bit E4M3 floats (ties to even, saturating at +-448), returned as their uint8 codes.</summary>
    public static MxArray ToFp8(MxArray x, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        if (!x.DType.IsFloating()) throw new ArgumentException($"to_fp8: only real floating-point arrays, not {x.DType.Name()}.");
        return MxArray.Create(x.ShapeRef, DType.UInt8, new Fp8Primitive(true), x);
    }

    /// <summary>The values of E4M3 codes (uint8) in <paramref name="dtype"/>.</summary>
    public static MxArray FromFp8(MxArray x, DType dtype = DType.BFloat16, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        if (x.DType != DType.UInt8) throw new ArgumentException($"from_fp8: the codes must be uint8, not {x.DType.Name()}.");
        if (!dtype.IsFloating()) throw new ArgumentException($"from_fp8: only real floating output types, not {dtype.Name()}.");
        return AsType(MxArray.Create(x.ShapeRef, DType.Float32, new Fp8Primitive(false), x), dtype);
    }

    private static (MxArray Codes, MxArray Scales) FpQuantize(MxArray w, QuantizationMode mode, MxArray? globalScale)
    {
        int gs = mode == QuantizationMode.Nvfp4 ? 16 : 32, bits = mode == QuantizationMode.Mxfp8 ? 8 : 4;
        var codesShape = (int[])w.Shape;
        codesShape[^1] = w.ShapeRef[^1] * bits / 32;
        var scaleShape = (int[])w.Shape;
        scaleShape[^1] = w.ShapeRef[^1] / gs;
        var inputs = globalScale is null ? new[] { w } : new[] { w, globalScale };
        var outs = MxArray.Create(new[] { codesShape, scaleShape }, new[] { DType.UInt32, DType.UInt8 }, new FloatQuantizePrimitive(gs, bits), inputs);
        return (outs[0], outs[1]);
    }

    private static MxArray FpDequantize(MxArray w, MxArray scales, QuantizationMode mode, MxArray? globalScale, DType outType)
    {
        int gs = mode == QuantizationMode.Nvfp4 ? 16 : 32, bits = mode == QuantizationMode.Mxfp8 ? 8 : 4;
        var inputs = globalScale is null ? new[] { w, scales } : new[] { w, scales, globalScale };
        return AsType(MxArray.Create(DequantizedShape(w, bits), DType.Float32, new FloatDequantizePrimitive(gs, bits), inputs), outType);
    }
}

public static partial class Mx
{
    /// <summary>
    /// As mlx.core.gather_qmm: the quantized product of x's matrices chosen by <paramref name="lhsIndices"/> (into x's
    /// batch dims, flattened; default: all of them in order) with the quantized matrices chosen by
    /// <paramref name="rhsIndices"/> (into w's batch dims); the index arrays broadcast, and the result has their shape
    /// followed by (M, N). Without indices it is <see cref="QuantizedMatmul"/>.
    /// </summary>
    public static MxArray GatherQmm(MxArray x, MxArray w, MxArray scales, MxArray? biases = null, MxArray? lhsIndices = null, MxArray? rhsIndices = null,
        bool transpose = true, int? groupSize = null, int? bits = null, QuantizationMode mode = QuantizationMode.Affine, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        if (lhsIndices is null && rhsIndices is null)
        {
            return QuantizedMatmul(x, w, scales, biases, transpose, groupSize, bits, mode, stream);
        }
        var (gs, b) = QuantizationParams(mode, groupSize, bits, "gather_qmm");
        var scaleType = QuantizedOutputType(scales, biases, null, mode, "gather_qmm");
        CheckQuantizedShapes(w, scales, biases, gs, b, "gather_qmm");
        if (x.NDim < 2 || w.NDim < 2) throw new ArgumentException("gather_qmm: x and the quantized matrix need at least 2 dimensions.");
        int inner = transpose ? w.ShapeRef[^1] * 32 / b : w.ShapeRef[^2];
        int outer = transpose ? w.ShapeRef[^2] : w.ShapeRef[^1] * 32 / b;
        if (x.ShapeRef[^1] != inner)
        {
            throw new ArgumentException($"gather_qmm: the last dimension of x {MxArray.FormatShape(x.ShapeRef)} does not match the quantized matrix ({inner}, {outer}).");
        }
        foreach (var idx in new[] { lhsIndices, rhsIndices })
        {
            if (idx is not null && !idx.DType.IsInteger()) throw new ArgumentException($"gather_qmm: indices must be integers, not {idx.DType.Name()}.");
        }
        var dt = mode == QuantizationMode.Affine ? DTypes.Promote(x.DType, scaleType) : x.DType;
        if (!dt.IsFloating()) throw new ArgumentException($"gather_qmm: only real floating types are supported, not {dt.Name()}.");
        var lhs = lhsIndices ?? Reshape(Arange(0, x.ShapeRef[..^2].Aggregate(1, (p, d) => p * d), dtype: DType.UInt32), x.ShapeRef[..^2]);
        var rhs = rhsIndices ?? Reshape(Arange(0, w.ShapeRef[..^2].Aggregate(1, (p, d) => p * d), dtype: DType.UInt32), w.ShapeRef[..^2]);
        var idxShape = Shapes.Broadcast(lhs.ShapeRef, rhs.ShapeRef);
        lhs = BroadcastTo(lhs, idxShape);
        rhs = BroadcastTo(rhs, idxShape);
        var xf = Reshape(x, new[] { -1, x.ShapeRef[^2], x.ShapeRef[^1] });
        MxArray Flat(MxArray a) => Reshape(a, new[] { -1, a.ShapeRef[^2], a.ShapeRef[^1] });
        if (mode != QuantizationMode.Affine || dt == DType.Float64)
        {
            var dense = Dequantize(Flat(w), Flat(scales), biases is null ? null : Flat(biases), gs, b, mode, dtype: dt);
            var chosen = Take(dense, rhs, 0);
            return Matmul(Take(AsType(xf, dt), lhs, 0), transpose ? SwapAxes(chosen, -1, -2) : chosen);
        }
        var shape = idxShape.Append(x.ShapeRef[^2]).Append(outer).ToArray();
        return MxArray.Create(shape, dt, new GatherQmmPrimitive(gs, b, transpose), AsType(xf, dt), Flat(w), Flat(AsType(scales, dt)), Flat(AsType(biases!, dt)), lhs, rhs);
    }

    /// <summary>
    /// As mlx.core.gather_mm: the products of a's matrices chosen by <paramref name="lhsIndices"/> with b's chosen by
    /// <paramref name="rhsIndices"/> (flattened batch dims, defaults all in order; the index arrays broadcast). The
    /// chosen matrices are gathered, then multiplied.
    /// </summary>
    public static MxArray GatherMm(MxArray a, MxArray b, MxArray? lhsIndices = null, MxArray? rhsIndices = null, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        if (a.NDim < 2 || b.NDim < 2) throw new ArgumentException("gather_mm: both operands need at least 2 dimensions.");
        if (lhsIndices is null && rhsIndices is null) return Matmul(a, b);
        foreach (var idx in new[] { lhsIndices, rhsIndices })
        {
            if (idx is not null && !idx.DType.IsInteger()) throw new ArgumentException($"gather_mm: indices must be integers, not {idx.DType.Name()}.");
        }
        var lhs = lhsIndices ?? Reshape(Arange(0, a.ShapeRef[..^2].Aggregate(1, (p, d) => p * d), dtype: DType.UInt32), a.ShapeRef[..^2]);
        var rhs = rhsIndices ?? Reshape(Arange(0, b.ShapeRef[..^2].Aggregate(1, (p, d) => p * d), dtype: DType.UInt32), b.ShapeRef[..^2]);
        var af = Reshape(a, new[] { -1, a.ShapeRef[^2], a.ShapeRef[^1] });
        var bf = Reshape(b, new[] { -1, b.ShapeRef[^2], b.ShapeRef[^1] });
        return Matmul(Take(af, lhs, 0), Take(bf, rhs, 0));
    }
}

public static partial class Mx
{
    /// <summary>
    /// As mlx.core.qqmm: x @ w^T with both operands in a floating-point quantization mode (nvfp4 by default, mxfp4,
    /// mxfp8): x is quantized on the fly (and w too, unless it is given quantized, with <paramref name="scalesW"/>),
    /// and the product is that of the dequantized values, in x's dtype. 2-D operands (a 1-D x is one row; a weight of
    /// 2 dims flattens x's leading dims). Gradients are MLX's: quantized products of the cotangent with the other
    /// operand (for nvfp4 with global scales, the cotangent's own absolute maximum as its global scale); a quantized w
    /// passes x's gradient straight through the dequantized weight.
    /// </summary>
    public static MxArray Qqmm(MxArray x, MxArray w, MxArray? scalesW = null, int? groupSize = null, int? bits = null,
        QuantizationMode mode = QuantizationMode.Nvfp4, MxArray? globalScaleX = null, MxArray? globalScaleW = null, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        if (mode == QuantizationMode.Affine) throw new ArgumentException("qqmm: affine quantization is not supported (mxfp4, mxfp8 or nvfp4).");
        var (gs, b) = QuantizationParams(mode, groupSize, bits, "qqmm");
        var input = x;
        if (x.NDim == 1) x = ExpandDims(x, 0);
        else if (w.NDim == 2 && x.NDim > 2) x = Flatten(x, 0, -2);
        if (x.NDim != 2 || w.NDim != 2)
        {
            throw new ArgumentException($"qqmm: only 2-D operands are supported, not {MxArray.FormatShape(x.ShapeRef)} and {MxArray.FormatShape(w.ShapeRef)}.");
        }
        if (!x.DType.IsFloating() || x.DType == DType.Float64) throw new ArgumentException($"qqmm: x must be float32, float16 or bfloat16, not {x.DType.Name()}.");
        CheckGlobalScale(mode, globalScaleX, "qqmm");
        CheckGlobalScale(mode, globalScaleW, "qqmm");
        if ((globalScaleX is null) != (globalScaleW is null))
        {
            throw new ArgumentException("qqmm: give both global scales (for x and for w) or neither.");
        }
        bool quantized = w.DType == DType.UInt32;
        if (quantized)
        {
            if (scalesW is null) throw new ArgumentException("qqmm: a quantized w needs its scales.");
            QuantizedOutputType(scalesW, null, null, mode, "qqmm");
            CheckQuantizedShapes(w, scalesW, null, gs, b, "qqmm");
        }
        else if (!w.DType.IsFloating() || w.DType == DType.Float64)
        {
            throw new ArgumentException($"qqmm: w must be float32, float16, bfloat16 or quantized (uint32), not {w.DType.Name()}.");
        }
        int inner = quantized ? w.ShapeRef[1] * 32 / b : w.ShapeRef[1];
        if (x.ShapeRef[1] != inner)
        {
            throw new ArgumentException($"qqmm: the last dimension of x {MxArray.FormatShape(x.ShapeRef)} does not match w's ({inner}).");
        }
        if (x.ShapeRef[1] % gs != 0) throw new ArgumentException($"qqmm: the inner dimension {x.ShapeRef[1]} is not divisible by the group size {gs}.");
        var dt = x.DType;
        MxArray RoundTrip(MxArray a, MxArray? global)
        {
            var (c, s, _) = Quantize(a, gs, b, mode, global);
            return Dequantize(c, s, null, gs, b, mode, global, dt);
        }
        var weight = quantized ? Dequantize(w, scalesW!, null, gs, b, mode, globalScaleW, dt) : null;
        var globals = globalScaleX is null ? System.Array.Empty<MxArray>() : new[] { globalScaleX, globalScaleW! };
        MxArray[] Forward(MxArray[] a)
        {
            // The arguments: x, then w unless it came quantized, then the two global scales if given.
            var wd = weight ?? RoundTrip(a[1], globals.Length > 0 ? a[^1] : null);
            return new[] { AsType(Matmul(RoundTrip(a[0], globals.Length > 0 ? a[^2] : null), SwapAxes(wd, -1, -2)), dt) };
        }
        MxArray[] Backward(MxArray[] primals, MxArray[] cotangents, MxArray[] outputs)
        {
            var g = cotangents[0];
            var gAmax = globals.Length > 0 ? AsType(Max(Abs(g)), DType.Float32) : null;
            var grads = new MxArray[primals.Length];
            grads[0] = quantized
                ? AsType(Matmul(g, weight!), dt)
                : Qqmm(g, SwapAxes(primals[1], -1, -2), null, gs, b, mode, gAmax, globals.Length > 0 ? primals[^1] : null);
            if (!quantized)
            {
                grads[1] = Qqmm(SwapAxes(g, -1, -2), SwapAxes(primals[0], -1, -2), null, gs, b, mode, gAmax, globals.Length > 0 ? primals[^2] : null);
            }
            for (int i = quantized ? 1 : 2; i < primals.Length; i++) grads[i] = ZerosLike(primals[i]);
            return grads;
        }
        var args = new List<MxArray> { x };
        if (!quantized) args.Add(w);
        args.AddRange(globals);
        var r = CustomFunction(Forward, Backward)(args.ToArray())[0];
        if (input.NDim > 2) r = Reshape(r, input.ShapeRef[..^1].Append(r.ShapeRef[^1]).ToArray());
        else if (input.NDim == 1) r = Squeeze(r, 0);
        return r;
    }
}
