using Mlx.Kernels;

namespace Mlx;

/// <summary>
/// The parameters every quantization primitive carries (group size and bits), compared by <see cref="IsEquivalent"/>
/// with those of the subclass (<see cref="SameOptions"/>).
/// </summary>
internal abstract class GroupedPrimitive(int groupSize, int bits) : Primitive
{
    public int GroupSize { get; } = groupSize;

    public int Bits { get; } = bits;

    public override bool IsEquivalent(Primitive other) =>
        other.GetType() == GetType() && other is GroupedPrimitive p && p.GroupSize == GroupSize && p.Bits == Bits && SameOptions(p);

    protected virtual bool SameOptions(GroupedPrimitive other) => true;
}

/// <summary>
/// Affine quantization of the last axis (Kernels.Quantized has the packing): w (float32, or float16/bfloat16 through
/// float32) to (codes uint32, scales, biases), scales and biases in w's dtype. Not differentiable, as in MLX.
/// </summary>
internal sealed unsafe class AffineQuantizePrimitive(int groupSize, int bits) : GroupedPrimitive(groupSize, bits)
{
    public override string Name => "AffineQuantize";

    public override void EvalCpu(MxArray[] inputs, MxArray[] outputs)
    {
        if (inputs[0].DType != DType.Float32)
        {
            Dispatch.ViaFloat32(inputs, outputs, EvalCpu);
            return;
        }
        foreach (var o in outputs) o.AllocateData();
        var w = Cast.Contiguous(inputs[0]);
        try
        {
            Quantized.QuantizeAffine(w.Ptr<float>(), w.Size / GroupSize, GroupSize, Bits, outputs[0].Ptr<uint>(), outputs[1].Ptr<float>(), outputs[2].Ptr<float>());
        }
        finally
        {
            if (!ReferenceEquals(w, inputs[0])) w.Buffer.Release();
        }
    }
}

/// <summary>
/// (codes, scales, biases) to scales * q + biases, in the scales' dtype (float16/bfloat16 computed in float32 and
/// rounded once). Differentiable in the scales and biases (the codes are integers).
/// </summary>
internal sealed unsafe class AffineDequantizePrimitive(int groupSize, int bits) : GroupedPrimitive(groupSize, bits)
{
    public override string Name => "AffineDequantize";

    public override void EvalCpu(MxArray[] inputs, MxArray[] outputs)
    {
        var o = outputs[0];
        if (o.DType != DType.Float32)
        {
            Dispatch.ViaFloat32(inputs, outputs, EvalCpu);
            return;
        }
        o.AllocateData();
        var parts = inputs.Select(Cast.Contiguous).ToArray();
        try
        {
            Quantized.DequantizeAffine(parts[0].Ptr<uint>(), parts[1].Ptr<float>(), parts[2].Ptr<float>(), parts[1].Size, GroupSize, Bits, o.Ptr<float>());
        }
        finally
        {
            Cast.ReleaseCopies(parts, inputs);
        }
    }

    public override bool HasGpuKernel => true;

    public override void EvalGpu(MxArray[] inputs, MxArray[] outputs)
    {
        var o = outputs[0];
        if (!GpuOps.Supports(o.DType))
        {
            EvalCpu(inputs, outputs);
            return;
        }
        var codes = GpuOps.Operand(inputs[0], DType.UInt32, allowScalar: false);
        var s = GpuOps.Operand(inputs[1], DType.Float32, allowScalar: false);
        var b = GpuOps.Operand(inputs[2], DType.Float32, allowScalar: false);
        GpuOps.IntoOutput(o, DType.Float32, mem => GpuRuntime.Device.DequantizeAffine(codes.Memory, s.Memory, b.Memory, mem, o.Size, GroupSize, Bits));
        GpuOps.Release(codes, s, b);
    }

    public override MxArray[] Vjp(MxArray[] primals, MxArray[] cotangents, int[] argnums, MxArray[] outputs)
    {
        // d/ds = sum over each group of g * q; d/db = sum over each group of g.
        var g = Mx.Unflatten(cotangents[0], -1, new[] { -1, GroupSize });
        return argnums.Select(k => k switch
        {
            0 => throw new NotSupportedException("dequantize has no gradient with respect to the quantized codes."),
            1 => Mx.Sum(Mx.Multiply(g, Mx.Unflatten(Codes(primals), -1, new[] { -1, GroupSize })), -1),
            _ => Mx.Sum(g, -1),
        }).ToArray();
    }

    // The codes as numbers of the output's dtype (dequantized with scale 1 and bias 0).
    private MxArray Codes(MxArray[] primals) =>
        MxArray.Create(Mx.DequantizedShape(primals[0], Bits), primals[1].DType, this, primals[0], Mx.OnesLike(primals[1]), Mx.ZerosLike(primals[2]));

    public override MxArray[] Jvp(MxArray[] primals, MxArray[] tangents, int[] argnums, MxArray[] outputs)
    {
        // Linear in (scales, biases) together: the tangent is the dequantization with their tangents.
        if (argnums.Contains(0)) throw new NotSupportedException("dequantize has no derivative with respect to the quantized codes.");
        var ds = RuleHelpers.TangentOrZeros(1, primals, tangents, argnums);
        var db = RuleHelpers.TangentOrZeros(2, primals, tangents, argnums);
        return new[] { MxArray.Create(outputs[0].ShapeRef, outputs[0].DType, this, primals[0], ds, db) };
    }
}

/// <summary>
/// x @ dequantize(w)^T (Transpose) or x @ dequantize(w): inputs (x, codes, scales, biases) with x, scales and biases
/// of one float dtype (affine), or (x, codes, uint8 scales) (the floating-point modes), the batch dims of x and w
/// already broadcast (or w 2-D). float16/bfloat16 run in float32 and round once.
/// </summary>
internal sealed unsafe class QuantizedMatmulPrimitive(int groupSize, int bits, bool transpose, QuantizationMode mode = QuantizationMode.Affine)
    : GroupedPrimitive(groupSize, bits)
{
    public bool Transpose { get; } = transpose;

    public QuantizationMode Mode { get; } = mode;

    public override string Name => "QuantizedMatmul";

    protected override bool SameOptions(GroupedPrimitive other) => other is QuantizedMatmulPrimitive p && p.Transpose == Transpose && p.Mode == Mode;

    public override void EvalCpu(MxArray[] inputs, MxArray[] outputs)
    {
        var o = outputs[0];
        if (o.DType != DType.Float32)
        {
            Dispatch.ViaFloat32(inputs, outputs, EvalCpu);
            return;
        }
        o.AllocateData();
        if (o.Size == 0) return;
        int nd = o.NDim;
        int N = o.ShapeRef[nd - 1], K = inputs[0].ShapeRef[^1];
        var w = inputs[1];
        // With a 2-D weight every row of x is one row of the product; otherwise one product per batch index.
        bool flat = w.NDim == 2;
        var parts = new MxArray[inputs.Length];
        for (int i = 0; i < parts.Length; i++)
        {
            parts[i] = flat || i > 0 ? Cast.Contiguous(inputs[i]) : InnerContiguous(inputs[i]);
        }
        try
        {
            int M = flat ? (int)(o.Size / N) : o.ShapeRef[nd - 2];
            long batch = flat ? 1 : o.Size / Math.Max(1L, (long)M * N);
            var (x, q, s) = (parts[0], parts[1], parts[2]);
            long wWords = (long)q.ShapeRef[^2] * q.ShapeRef[^1], wGroups = (long)s.ShapeRef[^2] * s.ShapeRef[^1];
            int[] shape = o.ShapeRef;
            for (long bi = 0; bi < batch; bi++)
            {
                // x may be a broadcast view: its batch offset follows its strides (w, scales and biases are dense copies).
                long offX = 0, rem = bi;
                for (int d = nd - 3; d >= 0; d--)
                {
                    offX += rem % shape[d] * x.Strides[d];
                    rem /= shape[d];
                }
                if (Mode == QuantizationMode.Affine)
                {
                    Quantized.Matmul(M, N, K, x.Ptr<float>() + offX, K, q.Ptr<uint>() + bi * wWords, s.Ptr<float>() + bi * wGroups,
                        parts[3].Ptr<float>() + bi * wGroups, GroupSize, Bits, Transpose, o.Ptr<float>() + bi * M * N, N);
                }
                else
                {
                    Quantized.MatmulFloat(M, N, K, x.Ptr<float>() + offX, K, q.Ptr<uint>() + bi * wWords, s.Ptr<byte>() + bi * wGroups,
                        GroupSize, Bits, 1f, Transpose, o.Ptr<float>() + bi * M * N, N);
                }
            }
        }
        finally
        {
            Cast.ReleaseCopies(parts, inputs);
        }
    }

    public override bool HasGpuKernel => true;

    /// <summary>
    /// On the GPU the weight is dequantized into float32 scratch (one pass at memory speed), then multiplied by the
    /// GEMM kernel reading it through strides as W^T or W; float16/bfloat16 results are rounded from float32.
    /// </summary>
    public override void EvalGpu(MxArray[] inputs, MxArray[] outputs)
    {
        var o = outputs[0];
        int nd = o.NDim;
        if (!GpuOps.Supports(o.DType) || o.DType == DType.Float64 || nd - 2 > Mlx.Kernels.Gpu.StridedLayout.MaxDims)
        {
            EvalCpu(inputs, outputs);
            return;
        }
        var (x, w) = (inputs[0], inputs[1]);
        int K = x.ShapeRef[^1], N = o.ShapeRef[^1];
        bool flat = w.NDim == 2;
        // A 2-D weight: x's rows are one matrix when they are contiguous, else one product per batch index.
        var xs = GpuOps.Operand(x, DType.Float32, allowScalar: false);
        long rowsW = (long)w.ShapeRef[^2], colsW = (long)w.ShapeRef[^1] * 32 / Bits;
        long wBatch = w.Size / Math.Max(1, w.ShapeRef[^2] * (long)w.ShapeRef[^1]);
        bool affine = Mode == QuantizationMode.Affine;
        var codes = GpuOps.Operand(w, DType.UInt32, allowScalar: false);
        var s = GpuOps.Operand(inputs[2], affine ? DType.Float32 : DType.UInt8, allowScalar: false);
        var b = affine ? GpuOps.Operand(inputs[3], DType.Float32, allowScalar: false) : default;
        int M = flat ? (int)(o.Size / Math.Max(1, N)) : o.ShapeRef[^2];
        if (flat && Transpose && M <= Quantized.GemvRows && K > 0)
        {
            // A few rows: read the packed weight directly (dequantizing it first would write 8x its bytes).
            GpuOps.IntoOutput(o, DType.Float32, mem =>
            {
                if (affine) GpuRuntime.Device.QuantizedGemvTransposed(xs.Memory, codes.Memory, s.Memory, b.Memory, mem, M, N, K, GroupSize, Bits);
                else GpuRuntime.Device.QuantizedGemvTransposedFloat(xs.Memory, codes.Memory, s.Memory, mem, M, N, K, GroupSize, Bits);
            });
            GpuOps.Release(xs, codes, s, b);
            return;
        }
        var dense = GpuRuntime.Scratch(wBatch * rowsW * colsW * 4);
        if (affine) GpuRuntime.Device.DequantizeAffine(codes.Memory, s.Memory, b.Memory, dense, wBatch * rowsW * colsW, GroupSize, Bits);
        else GpuRuntime.Device.DequantizeFloat(codes.Memory, s.Memory, dense, wBatch * rowsW * colsW, GroupSize, Bits, 1f);
        var batch = flat ? Array.Empty<int>() : o.ShapeRef[..^2];
        var rm = MxArray.RowMajorStrides(flat ? new[] { M, K } : x.ShapeRef);
        var aOp = new Mlx.Kernels.Gpu.GemmOperand(xs.Memory, 0, K, 1, flat ? Array.Empty<long>() : rm[..^2]);
        var wBatchStrides = flat ? Array.Empty<long>() : MxArray.RowMajorStrides(o.ShapeRef[..^2]).Select(st => st * rowsW * colsW).ToArray();
        var bOp = Transpose
            ? new Mlx.Kernels.Gpu.GemmOperand(dense, 0, 1, colsW, wBatchStrides)
            : new Mlx.Kernels.Gpu.GemmOperand(dense, 0, colsW, 1, wBatchStrides);
        GpuOps.IntoOutput(o, DType.Float32, mem => GpuRuntime.Device.Matmul(Mlx.Kernels.Gpu.GpuType.Float32, batch, M, N, K, aOp, bOp, mem));
        GpuRuntime.Free(dense);
        GpuOps.Release(xs, codes, s, b);
    }

    // x itself when each of its matrices is row-major (batch strides may be anything, broadcasts included), else a copy.
    private static MxArray InnerContiguous(MxArray x)
    {
        var st = x.Strides;
        int cols = x.ShapeRef[^1];
        bool inner = (st[^1] == 1 || cols <= 1) && (st[^2] == cols || x.ShapeRef[^2] <= 1);
        return inner ? x : Cast.Materialize(x, x.DType);
    }

    private MxArray? Biases(MxArray[] primals) => Mode == QuantizationMode.Affine ? primals[3] : null;

    public override MxArray[] Vjp(MxArray[] primals, MxArray[] cotangents, int[] argnums, MxArray[] outputs)
    {
        var (x, w, scales, biases) = (primals[0], primals[1], primals[2], Biases(primals));
        var g = cotangents[0];
        MxArray? perGroup = null;
        var result = new MxArray[argnums.Length];
        for (int k = 0; k < argnums.Length; k++)
        {
            switch (argnums[k])
            {
                case 0:
                    result[k] = Mx.QuantizedMatmul(g, w, scales, biases, !Transpose, GroupSize, Bits, Mode);
                    break;
                case 1:
                    throw new NotSupportedException("quantized_matmul has no gradient with respect to the quantized codes.");
                default:
                    if (Mode != QuantizationMode.Affine) throw new NotSupportedException($"quantized_matmul has no gradient with respect to {Mode} scales.");
                    // The gradient of the dequantized weight (its shape), split into groups; summed over the batch
                    // dims that the weight was broadcast along.
                    if (perGroup is null)
                    {
                        int wd = w.NDim;
                        var fg = Mx.Flatten(g, 0, g.NDim - wd);
                        var fx = Mx.Flatten(x, 0, x.NDim - wd);
                        var dw = Transpose ? Mx.Matmul(Mx.SwapAxes(fg, -1, -2), fx) : Mx.Matmul(Mx.SwapAxes(fx, -1, -2), fg);
                        if (wd > 2 || dw.NDim > 2) dw = Mx.Reshape(dw, w.ShapeRef[..^1].Append(dw.ShapeRef[^1]).ToArray());
                        perGroup = Mx.Unflatten(dw, -1, new[] { -1, GroupSize });
                    }
                    result[k] = argnums[k] == 3
                        ? Mx.Sum(perGroup, -1)
                        : Mx.Sum(Mx.Multiply(perGroup, Mx.Unflatten(Mx.Dequantize(w, Mx.OnesLike(scales), Mx.ZerosLike(biases!), GroupSize, Bits), -1, new[] { -1, GroupSize })), -1);
                    break;
            }
        }
        return result;
    }

    public override MxArray[] Jvp(MxArray[] primals, MxArray[] tangents, int[] argnums, MxArray[] outputs)
    {
        if (argnums.Contains(1)) throw new NotSupportedException("quantized_matmul has no derivative with respect to the quantized codes.");
        var (x, w, scales, biases) = (primals[0], primals[1], primals[2], Biases(primals));
        MxArray? total = null;
        if (argnums.Contains(0))
        {
            total = Mx.QuantizedMatmul(RuleHelpers.TangentOrZeros(0, primals, tangents, argnums), w, scales, biases, Transpose, GroupSize, Bits, Mode);
        }
        if (argnums.Contains(2) || argnums.Contains(3))
        {
            if (Mode != QuantizationMode.Affine) throw new NotSupportedException($"quantized_matmul has no derivative with respect to {Mode} scales.");
            // Linear in (scales, biases) together: x times the weight dequantized with their tangents.
            var part = Mx.QuantizedMatmul(x, w, RuleHelpers.TangentOrZeros(2, primals, tangents, argnums), RuleHelpers.TangentOrZeros(3, primals, tangents, argnums), Transpose, GroupSize, Bits);
            total = total is null ? part : Mx.Add(total, part);
        }
        return new[] { total! };
    }

    public override MxArray[]? Vmap(MxArray[] inputs, bool[] batched, MxArray[] outputs)
    {
        // A batched x against an unbatched 2-D weight: the batch axis is one more leading dim of x.
        if (batched[0] && batched.Skip(1).All(b => !b) && inputs[1].NDim == 2)
        {
            return new[] { Mx.QuantizedMatmul(inputs[0], inputs[1], inputs[2], Biases(inputs), Transpose, GroupSize, Bits, Mode) };
        }
        return null;
    }
}

/// <summary>
/// mxfp4, mxfp8 or nvfp4 quantization of float32 groups (Kernels.Quantized.QuantizeFloat): inputs (w) or (w, global
/// scale), outputs (codes uint32, scales uint8).
/// </summary>
internal sealed unsafe class FloatQuantizePrimitive(int groupSize, int bits) : GroupedPrimitive(groupSize, bits)
{
    public override string Name => "FloatQuantize";

    public override void EvalCpu(MxArray[] inputs, MxArray[] outputs)
    {
        foreach (var o in outputs) o.AllocateData();
        var w = Cast.Materialize(inputs[0], DType.Float32);
        try
        {
            float encode = inputs.Length > 1 ? 448f * 6f / GlobalScale(inputs[1]) : 1f;
            Quantized.QuantizeFloat(w.Ptr<float>(), w.Size / GroupSize, GroupSize, Bits, encode, outputs[0].Ptr<uint>(), outputs[1].Ptr<byte>());
        }
        finally
        {
            w.Buffer.Release();
        }
    }

    internal static float GlobalScale(MxArray g)
    {
        var c = Cast.Materialize(g, DType.Float32);
        try
        {
            return c.Ptr<float>()[0];
        }
        finally
        {
            c.Buffer.Release();
        }
    }
}

/// <summary>The inverse of <see cref="FloatQuantizePrimitive"/>: inputs (codes, scales) or (codes, scales, global scale), a float32 output.</summary>
internal sealed unsafe class FloatDequantizePrimitive(int groupSize, int bits) : GroupedPrimitive(groupSize, bits)
{
    public override string Name => "FloatDequantize";

    public override bool HasGpuKernel => true;

    public override void EvalGpu(MxArray[] inputs, MxArray[] outputs)
    {
        var o = outputs[0];
        float decode = inputs.Length > 2 ? FloatQuantizePrimitive.GlobalScale(inputs[2]) / (448f * 6f) : 1f;
        var codes = GpuOps.Operand(inputs[0], DType.UInt32, allowScalar: false);
        var s = GpuOps.Operand(inputs[1], DType.UInt8, allowScalar: false);
        GpuRuntime.Device.DequantizeFloat(codes.Memory, s.Memory, GpuRuntime.AllocateOutput(o), o.Size, GroupSize, Bits, decode);
        GpuOps.Release(codes, s);
    }

    public override void EvalCpu(MxArray[] inputs, MxArray[] outputs)
    {
        var o = outputs[0];
        o.AllocateData();
        var codes = Cast.Contiguous(inputs[0]);
        var scales = Cast.Contiguous(inputs[1]);
        try
        {
            float decode = inputs.Length > 2 ? FloatQuantizePrimitive.GlobalScale(inputs[2]) / (448f * 6f) : 1f;
            Quantized.DequantizeFloat(codes.Ptr<uint>(), scales.Ptr<byte>(), scales.Size, GroupSize, Bits, decode, o.Ptr<float>());
        }
        finally
        {
            Cast.ReleaseCopies(new[] { codes, scales }, inputs);
        }
    }
}

/// <summary>Elementwise float to E4M3 bytes (ToFp8) or E4M3 bytes to float32 (from fp8), as MLX's to_fp8 / from_fp8.</summary>
internal sealed unsafe class Fp8Primitive : Primitive
{
    public Fp8Primitive(bool toFp8) => ToFp8 = toFp8;

    public bool ToFp8 { get; }

    public override string Name => ToFp8 ? "ToFp8" : "FromFp8";

    public override bool IsEquivalent(Primitive other) => other is Fp8Primitive p && p.ToFp8 == ToFp8;

    public override void EvalCpu(MxArray[] inputs, MxArray[] outputs)
    {
        var o = outputs[0];
        o.AllocateData();
        long n = o.Size;
        if (ToFp8)
        {
            var x = Cast.Materialize(inputs[0], DType.Float32);
            float* src = x.Ptr<float>();
            byte* dst = o.Ptr<byte>();
            for (long i = 0; i < n; i++) dst[i] = Quantized.ToE4M3(src[i]);
            x.Buffer.Release();
        }
        else
        {
            var x = Cast.Contiguous(inputs[0]);
            byte* src = x.Ptr<byte>();
            float* dst = o.Ptr<float>();
            for (long i = 0; i < n; i++) dst[i] = Quantized.FromE4M3(src[i]);
            if (!ReferenceEquals(x, inputs[0])) x.Buffer.Release();
        }
    }
}

/// <summary>
/// gather_qmm: for each position of the (broadcast) index arrays, x's matrix lhs[i] times the quantized matrix
/// rhs[i] (transposed or not), read in place with no gathered copies of the weights (the mixture-of-experts case:
/// many tokens choosing among a few experts). Inputs (x, codes, scales, biases, lhs, rhs): x (Bx, M, K) and the
/// weight (Bw, ...) flattened to one batch axis, lhs and rhs integer arrays of one shape. Derivatives are those of
/// the composition with Take (which does copy).
/// </summary>
internal sealed unsafe class GatherQmmPrimitive(int groupSize, int bits, bool transpose) : GroupedPrimitive(groupSize, bits)
{
    public bool Transpose { get; } = transpose;

    public override string Name => "GatherQMM";

    protected override bool SameOptions(GroupedPrimitive other) => other is GatherQmmPrimitive p && p.Transpose == Transpose;

    public override void EvalCpu(MxArray[] inputs, MxArray[] outputs)
    {
        var o = outputs[0];
        if (o.DType != DType.Float32)
        {
            Dispatch.ViaFloat32(inputs, outputs, EvalCpu);
            return;
        }
        o.AllocateData();
        if (o.Size == 0) return;
        var x = Cast.Contiguous(inputs[0]);
        var q = Cast.Contiguous(inputs[1]);
        var s = Cast.Contiguous(inputs[2]);
        var b = Cast.Contiguous(inputs[3]);
        var lhs = Cast.Materialize(inputs[4], DType.Int64);
        var rhs = Cast.Materialize(inputs[5], DType.Int64);
        try
        {
            int M = x.ShapeRef[1], K = x.ShapeRef[2], N = o.ShapeRef[^1];
            long bx = x.ShapeRef[0], bw = q.ShapeRef[0];
            long wWords = q.Size / Math.Max(1, bw), wGroups = s.Size / Math.Max(1, bw);
            long* li = lhs.Ptr<long>(), ri = rhs.Ptr<long>();
            for (long i = 0; i < lhs.Size; i++)
            {
                if ((ulong)li[i] >= (ulong)bx) throw new IndexOutOfRangeException($"gather_qmm: lhs index {li[i]} is out of range for {bx} matrices.");
                if ((ulong)ri[i] >= (ulong)bw) throw new IndexOutOfRangeException($"gather_qmm: rhs index {ri[i]} is out of range for {bw} matrices.");
                Quantized.Matmul(M, N, K, x.Ptr<float>() + li[i] * M * K, K, q.Ptr<uint>() + ri[i] * wWords, s.Ptr<float>() + ri[i] * wGroups,
                    b.Ptr<float>() + ri[i] * wGroups, GroupSize, Bits, Transpose, o.Ptr<float>() + i * M * N, N);
            }
        }
        finally
        {
            Cast.ReleaseCopies(new[] { x, q, s, b }, inputs);
            lhs.Buffer.Release();
            rhs.Buffer.Release();
        }
    }

    private MxArray Composition(MxArray[] a) =>
        Mx.QuantizedMatmul(Mx.Take(a[0], a[4], 0), Mx.Take(a[1], a[5], 0), Mx.Take(a[2], a[5], 0), Mx.Take(a[3], a[5], 0), Transpose, GroupSize, Bits);

    public override MxArray[] Vjp(MxArray[] primals, MxArray[] cotangents, int[] argnums, MxArray[] outputs)
    {
        if (argnums.Any(k => k >= 4)) throw new NotSupportedException("gather_qmm has no gradient with respect to the indices.");
        return RuleHelpers.VjpOfComposition(Composition, primals, cotangents, argnums);
    }

    public override MxArray[] Jvp(MxArray[] primals, MxArray[] tangents, int[] argnums, MxArray[] outputs) =>
        RuleHelpers.JvpOfComposition(Composition, primals, tangents, argnums);
}
