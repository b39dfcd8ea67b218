using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Mlx.Kernels;

/// <summary>
/// Affine quantization as MLX stores it: each group of <c>groupSize</c> consecutive values of a row keeps a scale s
/// and a bias b, and each value the integer q in [0, 2^bits - 1] with w ~ s * q + b. The codes of a row form one
/// little-endian bit stream (value j at bits [j * bits, (j + 1) * bits)), read as uint32 words; a group always fills
/// whole words (groupSize * bits is a multiple of 32), so group g of a row starts at word g * groupSize * bits / 32.
/// Everything here computes in float32; callers widen float16/bfloat16 and round the results.
/// </summary>
public static unsafe class Quantized
{
    /// <summary>The rows above which a quantized product dequantizes blocks of the weight and runs GEMM.</summary>
    public const int GemvRows = 4;

    /// <summary>uint32 words holding <paramref name="values"/> codes of <paramref name="bits"/> bits.</summary>
    public static int Words(int values, int bits) => values * bits / 32;

    /// <summary>
    /// Quantizes <paramref name="groups"/> groups of float32 values (contiguous) as MLX's CPU kernel does: the scale
    /// spans the group's range over 2^bits - 1 steps (at least 1e-7), signed so that the endpoint of larger magnitude
    /// is code 0; when that endpoint is not itself a multiple of the step, the step is adjusted so it is, and it
    /// becomes the bias (else the bias is 0). NaNs are ignored by the range and get code 0.
    /// </summary>
    public static void QuantizeAffine(float* w, long groups, int groupSize, int bits, uint* packed, float* scales, float* biases)
    {
        int words = Words(groupSize, bits);
        nint pw = (nint)w, pp = (nint)packed, ps = (nint)scales, pb = (nint)biases;
        Parallelism.For(groups, groupSize * 8L, (start, end) =>
        {
            for (long g = start; g < end; g++)
            {
                QuantizeGroup((float*)pw + g * groupSize, groupSize, bits, (byte*)((uint*)pp + g * words), out ((float*)ps)[g], out ((float*)pb)[g]);
            }
        });
    }

    private static void QuantizeGroup(float* w, int groupSize, int bits, byte* output, out float scale, out float bias)
    {
        float nBins = (1 << bits) - 1;
        float max = float.NegativeInfinity, min = float.PositiveInfinity;
        for (int j = 0; j < groupSize; j++)
        {
            float v = w[j];
            if (v > max) max = v;
            if (v < min) min = v;
        }
        bool minIsEdge = MathF.Abs(min) > MathF.Abs(max);
        float step = (max - min) / nBins;
        step = step < 1e-7f ? 1e-7f : step;
        float edge = minIsEdge ? min : max;
        scale = minIsEdge ? step : -step;
        float q0 = MathF.Round(edge / scale);
        bias = 0;
        if (q0 != 0)
        {
            scale = edge / q0;
            bias = edge;
        }
        ulong acc = 0;
        int pending = 0;
        for (int j = 0; j < groupSize; j++)
        {
            float q = MathF.Round((w[j] - bias) / scale);
            q = q > 0 ? (q < nBins ? q : nBins) : 0;
            acc |= (ulong)q << pending;
            pending += bits;
            while (pending >= 8)
            {
                *output++ = (byte)acc;
                acc >>= 8;
                pending -= 8;
            }
        }
    }

    /// <summary>
    /// output[g * groupSize + j] = scales[g] * q + biases[g] for <paramref name="groups"/> groups of packed codes.
    /// </summary>
    public static void DequantizeAffine(uint* packed, float* scales, float* biases, long groups, int groupSize, int bits, float* output)
    {
        int words = Words(groupSize, bits);
        nint pp = (nint)packed, ps = (nint)scales, pb = (nint)biases, po = (nint)output;
        Parallelism.For(groups, groupSize * 2L, (start, end) =>
        {
            for (long g = start; g < end; g++)
            {
                DequantizeGroup((byte*)((uint*)pp + g * words), groupSize, bits, ((float*)ps)[g], ((float*)pb)[g], (float*)po + g * groupSize);
            }
        });
    }

    private static void DequantizeGroup(byte* codes, int groupSize, int bits, float scale, float bias, float* output)
    {
        if (Vector512.IsHardwareAccelerated && Unpacks16(bits))
        {
            var s = Vector512.Create(scale);
            var b = Vector512.Create(bias);
            int chunkBytes = 2 * bits;
            for (int j = 0; j < groupSize; j += 16, codes += chunkBytes)
            {
                (Unpack16(codes, bits) * s + b).Store(output + j);
            }
            return;
        }
        for (int j = 0; j < groupSize; j += 16, codes += 2 * bits)
        {
            UnpackScalar16(codes, bits, output + j);
            for (int i = 0; i < 16; i++)
            {
                output[j + i] = output[j + i] * scale + bias;
            }
        }
    }

    // Whether Unpack16 decodes this width in registers (the others go through UnpackScalar16).
    private static bool Unpacks16(int bits) => Avx512F.IsSupported && Ssse3.IsSupported && bits is 2 or 4 or 8;

    /// <summary>16 consecutive codes (2 * bits bytes) as float32, in order, for 2, 4 and 8 bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Unpack16(byte* p, int bits)
    {
        Vector128<byte> bytes;
        if (bits == 4)
        {
            // 8 bytes: low nibble first. Split the nibbles and interleave them back into value order.
            var v = Vector128.CreateScalar(*(ulong*)p).AsByte();
            var mask = Vector128.Create((byte)0x0F);
            bytes = Sse2.UnpackLow(v & mask, Vector128.ShiftRightLogical(v.AsUInt16(), 4).AsByte() & mask);
        }
        else if (bits == 8)
        {
            bytes = Vector128.Load(p);
        }
        else
        {
            // 4 bytes, four 2-bit codes each: repeat each byte four times, then shift lane i right by 2 * (i % 4).
            var v = Vector128.CreateScalar(*(uint*)p).AsByte();
            var spread = Ssse3.Shuffle(v, Vector128.Create((byte)0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3));
            var ints = Avx512F.ConvertToVector512Int32(spread).AsUInt32();
            var shifted = Avx512F.ShiftRightLogicalVariable(ints, Vector512.Create(0u, 2, 4, 6, 0, 2, 4, 6, 0, 2, 4, 6, 0, 2, 4, 6));
            return Avx512F.ConvertToVector512Single((shifted & Vector512.Create(3u)).AsInt32());
        }
        return Avx512F.ConvertToVector512Single(Avx512F.ConvertToVector512Int32(bytes));
    }

    /// <summary>16 consecutive codes of any width (2 * bits bytes) into <paramref name="output"/>, without reading past them.</summary>
    private static void UnpackScalar16(byte* p, int bits, float* output)
    {
        uint mask = (1u << bits) - 1;
        int bit = 0;
        for (int i = 0; i < 16; i++, bit += bits)
        {
            int at = bit >> 3, shift = bit & 7;
            uint word = p[at];
            if (shift + bits > 8) word |= (uint)p[at + 1] << 8;
            output[i] = (word >> shift) & mask;
        }
    }

    /// <summary>
    /// y[m, n] = sum_k x[m, k] * (s[n, g(k)] * q[n, k] + b[n, g(k)]) for at most <see cref="GemvRows"/> rows of x
    /// (rows ldx apart, contiguous): x times the transpose of a quantized (N, K) weight, reading the packed weight
    /// once. Per group the codes are dotted with x and scaled once; the bias term is b . (sums of x over each group).
    /// </summary>
    public static void GemvTransposed(int M, int N, int K, float* x, long ldx, uint* packed, float* scales, float* biases, int groupSize, int bits, float* y, long ldy)
    {
        if (M > GemvRows) throw new ArgumentOutOfRangeException(nameof(M), $"At most {GemvRows} rows.");
        int groups = K / groupSize, words = Words(K, bits);
        // Sums of x over each group, per row, for the bias term.
        var groupSums = new float[M * groups];
        for (int i = 0; i < M; i++)
        {
            for (int g = 0; g < groups; g++)
            {
                groupSums[i * groups + g] = TensorPrimitives.Sum(new ReadOnlySpan<float>(x + i * ldx + g * groupSize, groupSize));
            }
        }
        float[]? xPermuted = PermutedX(x, ldx, M, K, bits);
        nint px = (nint)x, pp = (nint)packed, ps = (nint)scales, pb = (nint)biases, py = (nint)y;
        Parallelism.For(N, (long)K * M, (start, end) =>
        {
            float* dots = stackalloc float[GemvRows];
            float[]? rowBuffer = Vector512.IsHardwareAccelerated && Unpacks16(bits) ? null : new float[K];
            for (long n = start; n < end; n++)
            {
                byte* codes = (byte*)((uint*)pp + n * words);
                float* s = (float*)ps + n * groups, b = (float*)pb + n * groups;
                if (xPermuted is not null)
                {
                    fixed (float* xp = xPermuted) DotRowsPermuted<AffineValues>(xp, K, M, (uint*)codes, s, K, groupSize, bits, dots);
                }
                else if (rowBuffer is null)
                {
                    DotRows((float*)px, ldx, M, codes, new AffineChunks(s, bits), K, groupSize, 2 * bits, dots);
                }
                else
                {
                    fixed (float* w = rowBuffer)
                    {
                        DequantizeRow(codes, s, null, K, groupSize, bits, w);
                        for (int i = 0; i < M; i++)
                        {
                            dots[i] = TensorPrimitives.Dot(new ReadOnlySpan<float>((float*)px + i * ldx, K), new ReadOnlySpan<float>(w, K));
                        }
                    }
                }
                for (int i = 0; i < M; i++)
                {
                    ((float*)py)[i * ldy + n] = dots[i] + TensorPrimitives.Dot(new ReadOnlySpan<float>(b, groups), new ReadOnlySpan<float>(groupSums, i * groups, groups));
                }
            }
        });
    }

    // Codes in a block of 16 words when rows of K codes split into whole blocks and the words can be decoded 16 lanes
    // at a time (AVX-512; 2, 4 or 8 bits), else 0.
    private static int PermutedBlockCodes(int K, int bits)
    {
        if (!Avx512F.IsSupported || bits is not (2 or 4 or 8)) return 0;
        int blockCodes = 16 * (32 / bits);
        return K % blockCodes == 0 ? blockCodes : 0;
    }

    // x's rows permuted for the whole-word decoder, or null where the in-order decoder is the better one. In alternating
    // runs (4096^2 affine weight, groups of 64) one row took 0.54-0.86 ms at 4 bits against 0.77-1.45 in order, 0.70-1.25
    // at 8 bits against 0.80-1.49; four rows at 8 bits 1.54-1.59 against 1.67-1.75, but four rows at 4 bits 1.45-1.79
    // against 1.34-1.64, so those keep the in-order decoder.
    private static float[]? PermutedX(float* x, long ldx, int M, int K, int bits)
    {
        if (PermutedBlockCodes(K, bits) == 0 || (M > 1 && bits != 8)) return null;
        var xp = new float[M * K];
        fixed (float* p = xp) PermuteRows(x, ldx, M, K, bits, p);
        return xp;
    }

    // xp[row][block * B + s * 16 + j] = x[row][block * B + j * p + s], with p = 32 / bits codes a word, B = 16 p.
    private static void PermuteRows(float* x, long ldx, int m, int K, int bits, float* xp)
    {
        int p = 32 / bits, blockCodes = 16 * p;
        for (int i = 0; i < m; i++)
        {
            float* src = x + i * ldx, dst = xp + (long)i * K;
            for (int k0 = 0; k0 < K; k0 += blockCodes)
            {
                for (int s = 0; s < p; s++)
                {
                    for (int j = 0; j < 16; j++) dst[k0 + s * 16 + j] = src[k0 + j * p + s];
                }
            }
        }
    }

    /// <summary>The values of 16 codes given as integers (AVX-512): affine codes are their own values; E2M1 and E4M3 decode.</summary>
    private interface ICodeValues
    {
        Vector512<float> Of(Vector512<uint> codes);
    }

    private struct AffineValues : ICodeValues
    {
        public Vector512<float> Of(Vector512<uint> codes) => Avx512F.ConvertToVector512Single(codes.AsInt32());
    }

    private struct E2M1Values16 : ICodeValues
    {
        public Vector512<float> Of(Vector512<uint> codes) =>
            E2M1(codes.AsInt32());
    }

    private struct E4M3Values16 : ICodeValues
    {
        public Vector512<float> Of(Vector512<uint> codes) => E4M3(codes.AsInt32());
    }

    // As DotRows, reading 16 whole words at a time: lane j of (words >> s * bits) & mask is code j * p + s of the
    // block, multiplied by the permuted x; the 16 lanes then belong to 16 / (words per group) groups, so the block's
    // partial sums are scaled lane by lane. Shift, mask, convert and one multiply-add per 16 codes and row, against
    // the in-order decoder's widening shuffles.
    private static void DotRowsPermuted<TValues>(float* xp, long ldxp, int m, uint* w, float* scales, int K, int groupSize, int bits, float* dots)
        where TValues : struct, ICodeValues
    {
        var values = default(TValues);
        int p = 32 / bits, blockCodes = 16 * p, wordsPerGroup = groupSize / p;
        var mask = Vector512.Create((1u << bits) - 1);
        // Lane j's group within a block, where a block holds several groups.
        var laneGroup = Vector512.Create(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15) / Vector512.Create(Math.Min(wordsPerGroup, 16));
        float* x1 = xp + ldxp, x2 = xp + 2 * ldxp, x3 = xp + 3 * ldxp;
        Vector512<float> t0 = default, t1 = default, t2 = default, t3 = default;
        float* groupScales = stackalloc float[16];
        for (int k0 = 0, word = 0; k0 < K; k0 += blockCodes, word += 16)
        {
            var words = Vector512.Load(w + word);
            Vector512<float> p0 = default, p1 = default, p2 = default, p3 = default;
            if (m == 1)
            {
                // One row: two accumulators, so the multiply-adds do not wait on each other's latency.
                Vector512<float> pa = default, pb = default;
                for (int s = 0; s < p; s += 2)
                {
                    var qa = values.Of(Vector512.ShiftRightLogical(words, s * bits) & mask);
                    var qb = values.Of(Vector512.ShiftRightLogical(words, (s + 1) * bits) & mask);
                    pa = Vector512.FusedMultiplyAdd(qa, Vector512.Load(xp + k0 + s * 16), pa);
                    pb = Vector512.FusedMultiplyAdd(qb, Vector512.Load(xp + k0 + s * 16 + 16), pb);
                }
                p0 = pa + pb;
            }
            else for (int s = 0; s < p; s++)
            {
                var q = values.Of(Vector512.ShiftRightLogical(words, s * bits) & mask);
                int k = k0 + s * 16;
                p0 = Vector512.FusedMultiplyAdd(q, Vector512.Load(xp + k), p0);
                if (m > 1)
                {
                    p1 = Vector512.FusedMultiplyAdd(q, Vector512.Load(x1 + k), p1);
                    if (m > 2)
                    {
                        p2 = Vector512.FusedMultiplyAdd(q, Vector512.Load(x2 + k), p2);
                        if (m > 3) p3 = Vector512.FusedMultiplyAdd(q, Vector512.Load(x3 + k), p3);
                    }
                }
            }
            Vector512<float> sv;
            if (wordsPerGroup >= 16)
            {
                sv = Vector512.Create(scales[word / wordsPerGroup]);
            }
            else if (wordsPerGroup == 8)
            {
                float* g = scales + word / 8;
                sv = Vector512.Create(Vector256.Create(g[0]), Vector256.Create(g[1]));
            }
            else if (wordsPerGroup == 4)
            {
                float* g = scales + word / 4;
                sv = Vector512.Create(Vector256.Create(Vector128.Create(g[0]), Vector128.Create(g[1])), Vector256.Create(Vector128.Create(g[2]), Vector128.Create(g[3])));
            }
            else if (wordsPerGroup == 2)
            {
                // Eight groups a block, their scales in the same row (a block never passes the row's last group).
                sv = Avx512F.PermuteVar16x32(Vector256.Load(scales + word / 2).ToVector512Unsafe(), laneGroup);
            }
            else
            {
                // Built in registers above: storing a few scales and loading them as a vector stalls store forwarding.
                int g0 = word / wordsPerGroup, count = 16 / wordsPerGroup;
                for (int g = 0; g < count; g++) groupScales[g] = scales[g0 + g];
                sv = Avx512F.PermuteVar16x32(Vector512.Load(groupScales), laneGroup);
            }
            t0 = Vector512.FusedMultiplyAdd(p0, sv, t0);
            t1 = Vector512.FusedMultiplyAdd(p1, sv, t1);
            t2 = Vector512.FusedMultiplyAdd(p2, sv, t2);
            t3 = Vector512.FusedMultiplyAdd(p3, sv, t3);
        }
        dots[0] = Vector512.Sum(t0);
        dots[1] = Vector512.Sum(t1);
        dots[2] = Vector512.Sum(t2);
        dots[3] = Vector512.Sum(t3);
    }

    // One row of K codes times its scales (no bias when biases is null).
    private static void DequantizeRow(byte* codes, float* scales, float* biases, int K, int groupSize, int bits, float* output)
    {
        int groupBytes = groupSize * bits / 8;
        for (int g = 0; g < K / groupSize; g++)
        {
            DequantizeGroup(codes + g * groupBytes, groupSize, bits, scales[g], biases is null ? 0 : biases[g], output + g * groupSize);
        }
    }

    /// <summary>How a quantized row is read 16 codes at a time (AVX-512): their values, and each group's scale.</summary>
    private interface IChunkDecoder
    {
        Vector512<float> Values(byte* codes);

        float Scale(int group);
    }

    private readonly struct AffineChunks(float* scales, int bits) : IChunkDecoder
    {
        public Vector512<float> Values(byte* codes) => Unpack16(codes, bits);

        public float Scale(int group) => scales[group];
    }

    private readonly struct FloatChunks(byte* scales, int groupSize, int bits, float scaleDecode) : IChunkDecoder
    {
        public Vector512<float> Values(byte* codes) => DecodeFloat16(codes, bits);

        public float Scale(int group) => groupSize == 16 ? FromE4M3(scales[group]) * scaleDecode : FromE8M0(scales[group]);
    }

    // The group sums of x times the codes' values for m <= 4 rows, each group's 16-code chunks decoded in registers
    // once and multiplied into every row's partial sum, which is scaled once per group.
    private static void DotRows<TDecoder>(float* x, long ldx, int m, byte* codes, TDecoder decoder, int K, int groupSize, int chunkBytes, float* dots)
        where TDecoder : struct, IChunkDecoder
    {
        float* x1 = x + ldx, x2 = x + 2 * ldx, x3 = x + 3 * ldx;
        Vector512<float> t0 = default, t1 = default, t2 = default, t3 = default;
        for (int k0 = 0; k0 < K; k0 += groupSize)
        {
            Vector512<float> p0 = default, p1 = default, p2 = default, p3 = default;
            for (int k = k0; k < k0 + groupSize; k += 16, codes += chunkBytes)
            {
                var q = decoder.Values(codes);
                p0 = Vector512.FusedMultiplyAdd(q, Vector512.Load(x + k), p0);
                if (m > 1)
                {
                    p1 = Vector512.FusedMultiplyAdd(q, Vector512.Load(x1 + k), p1);
                    if (m > 2)
                    {
                        p2 = Vector512.FusedMultiplyAdd(q, Vector512.Load(x2 + k), p2);
                        if (m > 3) p3 = Vector512.FusedMultiplyAdd(q, Vector512.Load(x3 + k), p3);
                    }
                }
            }
            var s = Vector512.Create(decoder.Scale(k0 / groupSize));
            t0 = Vector512.FusedMultiplyAdd(p0, s, t0);
            t1 = Vector512.FusedMultiplyAdd(p1, s, t1);
            t2 = Vector512.FusedMultiplyAdd(p2, s, t2);
            t3 = Vector512.FusedMultiplyAdd(p3, s, t3);
        }
        dots[0] = Vector512.Sum(t0);
        dots[1] = Vector512.Sum(t1);
        dots[2] = Vector512.Sum(t2);
        dots[3] = Vector512.Sum(t3);
    }

    /// <summary>
    /// y = x W^T (<paramref name="transposed"/>: W is (N, K), codes along K) or y = x W (W is (K, N), codes along N)
    /// for a quantized W, x (M, K) with rows ldx apart and y (M, N) with rows ldy apart. A few rows of x against W^T
    /// read the packed weight directly (<see cref="GemvTransposed"/>); otherwise blocks of W's rows are dequantized
    /// into float32 scratch of a few MB and multiplied by GEMM, so the weight is never expanded whole.
    /// </summary>
    public static void Matmul(int M, int N, int K, float* x, long ldx, uint* packed, float* scales, float* biases, int groupSize, int bits, bool transposed, float* y, long ldy)
    {
        if (M == 0 || N == 0) return;
        if (K == 0)
        {
            for (int i = 0; i < M; i++) new Span<float>(y + i * ldy, N).Clear();
            return;
        }
        if (transposed && M <= GemvRows)
        {
            GemvTransposed(M, N, K, x, ldx, packed, scales, biases, groupSize, bits, y, ldy);
            return;
        }
        BlockedMatmul(M, N, K, x, ldx, new AffineRows(packed, scales, biases, transposed ? K : N, groupSize, bits), transposed, y, ldy);
    }

    /// <summary>Dequantizes whole rows of a quantized weight into float32 (rows of <c>Columns</c> values).</summary>
    private interface IRowDecoder
    {
        int Columns { get; }

        void Decode(long firstRow, int rows, float* output);
    }

    private readonly struct AffineRows(uint* packed, float* scales, float* biases, int columns, int groupSize, int bits) : IRowDecoder
    {
        public int Columns => columns;

        public void Decode(long firstRow, int rows, float* output)
        {
            long groupsRow = columns / groupSize;
            DequantizeAffine(packed + firstRow * Words(columns, bits), scales + firstRow * groupsRow, biases + firstRow * groupsRow, rows * groupsRow, groupSize, bits, output);
        }
    }

    private readonly struct FloatRows(uint* packed, byte* scales, int columns, int groupSize, int bits, float scaleDecode) : IRowDecoder
    {
        public int Columns => columns;

        public void Decode(long firstRow, int rows, float* output)
        {
            long groupsRow = columns / groupSize;
            DequantizeFloat(packed + firstRow * Words(columns, bits), scales + firstRow * groupsRow, rows * groupsRow, groupSize, bits, scaleDecode, output);
        }
    }

    // Blocks of W's rows dequantized into float32 scratch of a few MB and multiplied by GEMM, so the weight is never
    // expanded whole.
    private static void BlockedMatmul<TDecoder>(int M, int N, int K, float* x, long ldx, TDecoder decoder, bool transposed, float* y, long ldy)
        where TDecoder : struct, IRowDecoder
    {
        int rowsW = transposed ? N : K, colsW = decoder.Columns;
        int block = (int)Math.Min(rowsW, Math.Max(16, (2L << 20) / colsW));
        // x W^T as (W x^T)^T, the dequantized block the long operand and x^T the narrow one, where x's rows fill GEMM's
        // column panels (one or two vectors, or whole panels of four): alternating runs (4096^2 weight, 4 bits) 8 rows
        // 3.9 ms against 4.7, 16 rows 4.0 against 5.8, 128 rows 27 against 34.
        bool weightRows = transposed && (M <= 2 * Gemm.NarrowWidth<float>() || M % Gemm.PanelWidth<float>() == 0);
        float* w = (float*)NativeMemory.AlignedAlloc((nuint)((long)block * colsW * 4), 64);
        float* yt = weightRows ? (float*)NativeMemory.AlignedAlloc((nuint)((long)block * M * 4), 64) : null;
        try
        {
            for (int r0 = 0; r0 < rowsW; r0 += block)
            {
                int rows = Math.Min(block, rowsW - r0);
                decoder.Decode(r0, rows, w);
                if (weightRows)
                {
                    Gemm.Run(rows, M, K, w, K, 1, x, 1, ldx, yt, M, 1f, 0f);
                    for (int r = 0; r < rows; r++)
                    {
                        for (int i = 0; i < M; i++) y[i * ldy + r0 + r] = yt[r * M + i];
                    }
                }
                else if (transposed)
                {
                    Gemm.Run(M, rows, K, x, ldx, 1, w, 1, K, y + r0, ldy, 1f, 0f);
                }
                else
                {
                    Gemm.Run(M, N, rows, x + r0, ldx, 1, w, N, 1, y, ldy, 1f, r0 == 0 ? 0f : 1f);
                }
            }
        }
        finally
        {
            NativeMemory.AlignedFree(w);
            NativeMemory.AlignedFree(yt);
        }
    }

    // ---- The microscaling floating-point modes (mxfp4, mxfp8, nvfp4): no biases, uint8 scales. ----

    /// <summary>The 16 values of a 4-bit E2M1 code (sign in bit 3).</summary>
    private static ReadOnlySpan<float> E2M1Values => new[] { 0f, 0.5f, 1f, 1.5f, 2f, 3f, 4f, 6f, -0f, -0.5f, -1f, -1.5f, -2f, -3f, -4f, -6f };

    /// <summary>The E2M1 code nearest <paramref name="x"/>, ties to even, saturating at 6 (NaN: 6, as MLX).</summary>
    public static byte ToE2M1(float x)
    {
        if (float.IsNaN(x)) return 0x7;
        byte sign = float.IsNegative(x) ? (byte)0x8 : (byte)0;
        x = MathF.Abs(x);
        byte code = x > 5f ? (byte)7 : x >= 3.5f ? (byte)6 : x > 2.5f ? (byte)5 : x >= 1.75f ? (byte)4
            : x > 1.25f ? (byte)3 : x >= 0.75f ? (byte)2 : x > 0.25f ? (byte)1 : (byte)0;
        return (byte)(code | sign);
    }

    /// <summary>
    /// float32 to E4M3 (fp8 with 4 exponent bits, no infinities), rounding to nearest even and saturating at 448, as
    /// MLX's to_fp8 (which also saturates NaN and infinities to 448 with their sign).
    /// </summary>
    public static byte ToE4M3(float f)
    {
        uint bits = BitConverter.SingleToUInt32Bits(f);
        uint sign = bits & 0x80000000u;
        bits ^= sign;
        byte result;
        if (bits >= 543u << 21)
        {
            result = 0x7E;
        }
        else if (bits < 121u << 23)
        {
            // Below E4M3's normal range (2^-6): adding 2^14 makes float32's step there 2^-9, E4M3's subnormal step,
            // so the addition rounds (ties to even) and the low bits are the code.
            const uint denormMask = 141u << 23;
            uint low = BitConverter.SingleToUInt32Bits(BitConverter.UInt32BitsToSingle(bits) + BitConverter.UInt32BitsToSingle(denormMask));
            result = (byte)(low - denormMask);
        }
        else
        {
            uint mantOdd = (bits >> 20) & 1;
            uint high = bits + (unchecked((uint)(7 - 127) << 23) + 0x7FFFF) + mantOdd;
            result = (byte)(high >> 20);
        }
        return (byte)(result | (sign >> 24));
    }

    /// <summary>E4M3 to float32 (0x7F and 0xFF are NaN).</summary>
    public static float FromE4M3(byte v)
    {
        // The 7 magnitude bits moved into float32's exponent and mantissa fields, rescaled by 2^120 (bias 127 against
        // 7; E4M3's subnormals become float32 subnormals, made exact by the rescale).
        int magnitude = v & 0x7F;
        float value = magnitude == 0x7F ? float.NaN : BitConverter.Int32BitsToSingle(magnitude << 20) * 1.329228e36f;
        return (v & 0x80) != 0 ? -value : value;
    }

    /// <summary>An E8M0 scale (a power of two, biased by 127) as float32; 0xFF is NaN.</summary>
    public static float FromE8M0(byte v) => v == 0xFF ? float.NaN : v == 0 ? BitConverter.Int32BitsToSingle(0x00400000) : BitConverter.Int32BitsToSingle(v << 23);

    /// <summary>
    /// Quantizes groups of float32 values to mxfp4/mxfp8 (groupSize 32, E8M0 scales: 2^round(log2(max|w| / max
    /// code))) or nvfp4 (groupSize 16, E4M3 scales of max|w| / 6, times <paramref name="scaleEncode"/> = 448 * 6 /
    /// global scale when there is one). Codes: E2M1 nibbles (bits 4) or E4M3 bytes (bits 8), in order.
    /// </summary>
    public static void QuantizeFloat(float* w, long groups, int groupSize, int bits, float scaleEncode, uint* packed, byte* scales)
    {
        nint pw = (nint)w, pp = (nint)packed, ps = (nint)scales;
        Parallelism.For(groups, groupSize * 8L, (start, end) =>
        {
            for (long g = start; g < end; g++)
            {
                float* v = (float*)pw + g * groupSize;
                byte* codes = (byte*)pp + g * groupSize * bits / 8;
                float amax = 0;
                for (int j = 0; j < groupSize; j++) amax = MathF.Max(amax, MathF.Abs(v[j]));
                float maxCode = bits == 4 ? 6f : 448f;
                float scale;
                if (groupSize == 16)
                {
                    byte s = ToE4M3(amax / maxCode * scaleEncode);
                    ((byte*)ps)[g] = s;
                    scale = FromE4M3(s) / scaleEncode;
                }
                else
                {
                    float ratio = amax / maxCode;
                    byte s = !float.IsFinite(ratio) ? (byte)0xFF : ratio == 0 ? (byte)127 : (byte)(Math.Clamp((int)MathF.Round(MathF.Log2(ratio)), -127, 127) + 127);
                    ((byte*)ps)[g] = s;
                    scale = FromE8M0(s);
                }
                for (int j = 0; j < groupSize; j++)
                {
                    float x = scale == 0 ? 0 : v[j] / scale;
                    if (bits == 8)
                    {
                        codes[j] = ToE4M3(x);
                    }
                    else if ((j & 1) == 0)
                    {
                        codes[j >> 1] = ToE2M1(x);
                    }
                    else
                    {
                        codes[j >> 1] |= (byte)(ToE2M1(x) << 4);
                    }
                }
            }
        });
    }

    /// <summary>The inverse of <see cref="QuantizeFloat"/>: output = value(code) * scale, scaleDecode = 1 / scaleEncode.</summary>
    public static void DequantizeFloat(uint* packed, byte* scales, long groups, int groupSize, int bits, float scaleDecode, float* output)
    {
        nint pp = (nint)packed, ps = (nint)scales, po = (nint)output;
        Parallelism.For(groups, groupSize * 2L, (start, end) =>
        {
            for (long g = start; g < end; g++)
            {
                byte sb = ((byte*)ps)[g];
                float scale = groupSize == 16 ? FromE4M3(sb) * scaleDecode : FromE8M0(sb);
                DecodeFloatGroup((byte*)pp + g * groupSize * bits / 8, groupSize, bits, scale, (float*)po + g * groupSize);
            }
        });
    }

    // A group of E2M1 (bits 4) or E4M3 (bits 8) codes times its scale, 16 codes at a time with AVX-512.
    private static void DecodeFloatGroup(byte* codes, int groupSize, int bits, float scale, float* output)
    {
        if (Avx512F.IsSupported && Ssse3.IsSupported)
        {
            var s = Vector512.Create(scale);
            for (int j = 0; j < groupSize; j += 16, codes += 2 * bits)
            {
                (DecodeFloat16(codes, bits) * s).Store(output + j);
            }
            return;
        }
        var fp4 = E2M1Values;
        for (int j = 0; j < groupSize; j++)
        {
            float value = bits == 8 ? FromE4M3(codes[j]) : fp4[(codes[j >> 1] >> (4 * (j & 1))) & 0xF];
            output[j] = value * scale;
        }
    }

    // 16 E2M1 (bits 4, 8 bytes) or E4M3 (bits 8, 16 bytes) codes as float32 values (AVX-512): E2M1 through a 16-entry
    // table permute, E4M3 by moving its 7 magnitude bits into float32's exponent and mantissa fields and rescaling by
    // 2^120 (bias 127 against 7; its subnormals land on float32 subnormals, made exact by the rescale), then the sign;
    // 0x7F / 0xFF become NaN. The constant vectors are built here: a static readonly vector read in a loop costs a
    // class-initialization check per read when the method is compiled before the class is initialized (always, with
    // tiered compilation off, as the CLI runs).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> DecodeFloat16(byte* codes, int bits)
    {
        if (bits == 4)
        {
            var c = Vector128.CreateScalar(*(ulong*)codes).AsByte();
            var mask = Vector128.Create((byte)0x0F);
            var ordered = Sse2.UnpackLow(c & mask, Vector128.ShiftRightLogical(c.AsUInt16(), 4).AsByte() & mask);
            return E2M1(Avx512F.ConvertToVector512Int32(ordered));
        }
        return E4M3(Avx512F.ConvertToVector512Int32(Vector128.Load(codes)));
    }

    // The E2M1 table (E2M1Values, static data rather than a static readonly field) permuted by 16 codes.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> E2M1(Vector512<int> codes) => Avx512F.PermuteVar16x32(Vector512.Create(E2M1Values), codes);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> E4M3(Vector512<int> b)
    {
        var magnitude = b & Vector512.Create(0x7F);
        var v = (magnitude << 20).AsSingle() * Vector512.Create(1.329228e36f);
        v = Vector512.ConditionalSelect(Vector512.Equals(magnitude, Vector512.Create(0x7F)).AsSingle(), Vector512.Create(float.NaN), v);
        return (v.AsInt32() | ((b & Vector512.Create(0x80)) << 24)).AsSingle();
    }

    /// <summary>
    /// <see cref="Matmul"/> for the floating-point modes: codes E2M1 (bits 4) or E4M3 (bits 8) with uint8 scales (E8M0
    /// for groups of 32, E4M3 times <paramref name="scaleDecode"/> for nvfp4's groups of 16). A few rows against W^T
    /// decode 16 codes at a time in registers into each row's group sums (without AVX-512: a weight row at a time into
    /// a buffer, then dot products); more rows run blocks through GEMM.
    /// </summary>
    public static void MatmulFloat(int M, int N, int K, float* x, long ldx, uint* packed, byte* scales, int groupSize, int bits, float scaleDecode, bool transposed, float* y, long ldy)
    {
        if (M == 0 || N == 0) return;
        if (K == 0)
        {
            for (int i = 0; i < M; i++) new Span<float>(y + i * ldy, N).Clear();
            return;
        }
        if (transposed && M <= GemvRows)
        {
            int words = Words(K, bits), groups = K / groupSize;
            nint px = (nint)x, pp = (nint)packed, ps = (nint)scales, py = (nint)y;
            bool wide = Avx512F.IsSupported && Ssse3.IsSupported;
            float[]? xPermuted = PermutedX(x, ldx, M, K, bits);
            bool permuted = xPermuted is not null;
            Parallelism.For(N, (long)K * M, (start, end) =>
            {
                float* dots = stackalloc float[GemvRows];
                var row = wide ? Array.Empty<float>() : new float[K];
                var rowScales = permuted ? new float[groups] : Array.Empty<float>();
                fixed (float* w = row, xp = xPermuted, sc = rowScales)
                {
                    for (long n = start; n < end; n++)
                    {
                        byte* codes = (byte*)((uint*)pp + n * words);
                        if (permuted)
                        {
                            var decoder = new FloatChunks((byte*)ps + n * groups, groupSize, bits, scaleDecode);
                            for (int g = 0; g < groups; g++) sc[g] = decoder.Scale(g);
                            if (bits == 4) DotRowsPermuted<E2M1Values16>(xp, K, M, (uint*)codes, sc, K, groupSize, bits, dots);
                            else DotRowsPermuted<E4M3Values16>(xp, K, M, (uint*)codes, sc, K, groupSize, bits, dots);
                            for (int i = 0; i < M; i++) ((float*)py)[i * ldy + n] = dots[i];
                            continue;
                        }
                        if (wide)
                        {
                            DotRows((float*)px, ldx, M, codes, new FloatChunks((byte*)ps + n * groups, groupSize, bits, scaleDecode), K, groupSize, 2 * bits, dots);
                            for (int i = 0; i < M; i++) ((float*)py)[i * ldy + n] = dots[i];
                            continue;
                        }
                        for (int g = 0; g < groups; g++)
                        {
                            byte sb = ((byte*)ps)[n * groups + g];
                            float scale = groupSize == 16 ? FromE4M3(sb) * scaleDecode : FromE8M0(sb);
                            DecodeFloatGroup(codes + g * groupSize * bits / 8, groupSize, bits, scale, w + g * groupSize);
                        }
                        for (int i = 0; i < M; i++)
                        {
                            ((float*)py)[i * ldy + n] = TensorPrimitives.Dot(new ReadOnlySpan<float>((float*)px + i * ldx, K), new ReadOnlySpan<float>(w, K));
                        }
                    }
                }
            });
            return;
        }
        BlockedMatmul(M, N, K, x, ldx, new FloatRows(packed, scales, transposed ? K : N, groupSize, bits, scaleDecode), transposed, y, ldy);
    }
}
