using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Mlx.Kernels;

/// <summary>
/// Fused attention softmax(scale · Q Kᵀ) V, optionally causal, MR query rows at a time: their scores (MR x L_kv,
/// in L1 for usual lengths) become unnormalized probabilities in place and are multiplied by V; each output row is
/// then divided by its probability sum. The (L_q x L_kv) score matrix never goes through memory. K and V are packed
/// once per head into column panels that one register-blocked micro-kernel (MR rows x NR columns) reads for both
/// products; row groups run in parallel.
/// </summary>
public static unsafe class Attention
{
    // Query rows per group and columns per panel: GEMM's micro-tile, whose kernel computes the scores and the output.
    private const int MR = Gemm.MR;

    /// <summary>
    /// O (batch, heads, lq, dv), row-major, from Q (batch, heads, lq, d), K (batch, kvHeads, lkv, d) and
    /// V (batch, kvHeads, lkv, dv) given by element pointers and 4 strides each; query head h reads key/value head
    /// h / (heads / kvHeads). Causal: query i sees keys j &lt;= i + lkv - lq; a row that sees none gets the
    /// uniform average of V (what a softmax over equal masked scores gives).
    /// </summary>
    public static void Run<T>(int batch, int heads, int kvHeads, int lq, int lkv, int d, int dv,
        T* q, long[] qs, T* k, long[] ks, T* v, long[] vs, T* o, T scale, bool causal)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if ((long)batch * heads * lq * dv == 0)
        {
            return;
        }
        int nr = Gemm.PanelWidth<T>();
        int group = heads / kvHeads;
        long diagonal = (long)lkv - lq;
        int kPanels = (lkv + nr - 1) / nr, vPanels = (dv + nr - 1) / nr;
        int ldS = kPanels * nr;
        // Per key head: Kᵀ as panels [panel][c][nr keys] and V as panels [panel][j][nr columns], zero-padded.
        long kSize = (long)kPanels * d * nr, vSize = (long)vPanels * lkv * nr, headSize = kSize + vSize;
        long kvTotal = (long)batch * kvHeads;
        T* packed = (T*)NativeMemory.AlignedAlloc((nuint)(Math.Max(1, kvTotal * headSize) * sizeof(T)), 64);
        nint pq = (nint)q, pk = (nint)k, pv = (nint)v, po = (nint)o, pp = (nint)packed;
        try
        {
            Parallelism.For(kvTotal, headSize, (s, e) =>
            {
                for (long p = s; p < e; p++)
                {
                    T* kh = (T*)pk + p / kvHeads * ks[0] + p % kvHeads * ks[1];
                    T* vh = (T*)pv + p / kvHeads * vs[0] + p % kvHeads * vs[1];
                    T* dst = (T*)pp + p * headSize;
                    Pack(kh, ks[2], ks[3], lkv, d, nr, dst);
                    Pack(vh, vs[3], vs[2], dv, lkv, nr, dst + kSize);
                }
            });
            int groups = (lq + MR - 1) / MR;
            T uniform = T.One / T.CreateChecked(Math.Max(1, lkv));
            Parallelism.For((long)batch * heads * groups, (long)MR * lkv * (d + dv), (s, e) =>
            {
                // Per thread: the group's scaled queries (row-major, d wide), its scores, 1 / row sums, one output tile.
                T* scratch = (T*)NativeMemory.AlignedAlloc((nuint)(((long)MR * (d + ldS + 1 + nr)) * sizeof(T)), 64);
                T* qb = scratch, scores = qb + MR * d, inv = scores + (long)MR * ldS, tile = inv + MR;
                try
                {
                    for (long item = s; item < e; item++)
                    {
                        long bh = item / groups;
                        long b = bh / heads, h = bh % heads;
                        T* kp = (T*)pp + (b * kvHeads + h / group) * headSize, vp = kp + kSize;
                        // Causal rows cost more further down: cheap and dear groups alternate, so that the
                        // contiguous ranges handed to the threads carry about equal work.
                        int g = (int)(item % groups);
                        g = (g & 1) == 0 ? g / 2 : groups - 1 - g / 2;
                        int i0 = g * MR, m = Math.Min(MR, lq - i0);
                        // Causal groups need only the keys their last row sees, unless some row sees none.
                        int n = !causal || i0 + diagonal < 0 ? lkv : (int)Math.Min(lkv, i0 + m + diagonal);
                        T* qh = (T*)pq + b * qs[0] + h * qs[1] + i0 * qs[2];
                        for (int r = 0; r < m; r++)
                        {
                            var dst = new Span<T>(qb + r * d, d);
                            if (qs[3] == 1) TensorPrimitives.Multiply(new ReadOnlySpan<T>(qh + r * qs[2], d), scale, dst);
                            else for (int c = 0; c < d; c++) dst[c] = qh[r * qs[2] + c * qs[3]] * scale;
                        }
                        for (int p = 0; p * nr < n; p++)
                        {
                            Gemm.MicroKernel(d, qb, d, 1, kp + (long)p * d * nr, scores + p * nr, ldS, m, nr, nr, T.One, T.Zero);
                        }
                        for (int r = 0; r < m; r++)
                        {
                            var row = new Span<T>(scores + (long)r * ldS, n);
                            int seen = causal ? (int)Math.Clamp(i0 + r + diagonal + 1, 0, n) : n;
                            if (seen == 0)
                            {
                                row.Fill(uniform);
                                inv[r] = T.One;
                                continue;
                            }
                            var live = row[..seen];
                            inv[r] = T.One / ExpSum(live);
                            row[seen..].Clear();
                        }
                        T* orow = (T*)po + (bh * lq + i0) * dv;
                        for (int p = 0; p < vPanels; p++)
                        {
                            Gemm.MicroKernel(n, scores, ldS, 1, vp + (long)p * lkv * nr, tile, nr, m, nr, nr, T.One, T.Zero);
                            int cols = Math.Min(nr, dv - p * nr);
                            for (int i = 0; i < m; i++)
                            {
                                TensorPrimitives.Multiply(new ReadOnlySpan<T>(tile + i * nr, cols), inv[i], new Span<T>(orow + (long)i * dv + p * nr, cols));
                            }
                        }
                    }
                }
                finally
                {
                    NativeMemory.AlignedFree(scratch);
                }
            });
        }
        finally
        {
            NativeMemory.AlignedFree(packed);
        }
    }

    /// <summary>x = exp(x - max(x)) in place, returning the sum.</summary>
    private static T ExpSum<T>(Span<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float) && Vector512.IsHardwareAccelerated)
        {
            return (T)(object)ExpSum(MemoryMarshal.Cast<T, float>(x));
        }
        TensorPrimitives.Subtract(x, TensorPrimitives.Max<T>(x), x);
        TensorPrimitives.Exp<T>(x, x);
        return TensorPrimitives.Sum<T>(x);
    }

    // TensorPrimitives.Exp computes float exp in double (half the lanes); Cephes' expf polynomial (about 1 ulp,
    // as accurate as float's rounding) runs 16 lanes at a time and sums in the same pass. The maximum uses the plain
    // instruction: a NaN it may skip still turns its own exp, and so the sum and the whole row, into NaN.
    private static float ExpSum(Span<float> x)
    {
        ref float x0 = ref MemoryMarshal.GetReference(x);
        int n = x.Length, i = 0, w = Vector512<float>.Count;
        float max = float.NegativeInfinity;
        if (n >= w)
        {
            var m = Vector512.LoadUnsafe(ref x0);
            for (i = w; i + w <= n; i += w) m = Vector512.MaxNative(m, Vector512.LoadUnsafe(ref x0, (nuint)i));
            m = Vector512.MaxNative(m, Vector512.LoadUnsafe(ref x0, (nuint)(n - w))); // the tail, overlapping
            for (int lane = 0; lane < w; lane++) max = MathF.Max(max, m.GetElement(lane));
            i = n;
        }
        for (; i < n; i++) max = MathF.Max(max, x[i]);
        var acc = Vector512<float>.Zero;
        var shift = Vector512.Create(max);
        for (i = 0; i + w <= n; i += w)
        {
            var e = Exp(Vector512.LoadUnsafe(ref x0, (nuint)i) - shift);
            e.StoreUnsafe(ref x0, (nuint)i);
            acc += e;
        }
        float sum = Vector512.Sum(acc);
        for (; i < n; i++)
        {
            x[i] = MathF.Exp(x[i] - max);
            sum += x[i];
        }
        return sum;
    }

    // exp(x) for x <= 0: x = k ln2 + r with |r| <= ln2 / 2, exp(r) by polynomial, 2^k through the exponent bits.
    // Below -87.3 (k < -126) it returns about 1e-38 instead of 0 or a subnormal; NaN stays NaN.
    private static Vector512<float> Exp(Vector512<float> x)
    {
        var lo = Vector512.Create(-87.33654f);
        x = Vector512.ConditionalSelect(Vector512.LessThan(x, lo), lo, x);
        var k = Vector512.Round(x * 1.44269504f);
        var r = Vector512.FusedMultiplyAdd(k, Vector512.Create(-0.693359375f), x);
        r = Vector512.FusedMultiplyAdd(k, Vector512.Create(2.12194440e-4f), r);
        var p = Vector512.FusedMultiplyAdd(Vector512.Create(1.9875691500e-4f), r, Vector512.Create(1.3981999507e-3f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(8.3334519073e-3f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(4.1665795894e-2f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.6666665459e-1f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(5.0000001201e-1f));
        p = Vector512.FusedMultiplyAdd(p, r * r, r + Vector512<float>.One);
        var pow2 = Vector512.ShiftLeft(Vector512.ConvertToInt32(k) + Vector512.Create(127), 23).AsSingle();
        return p * pow2;
    }

    // dst[p][k][j] = src[k * kStride + (p * nr + j) * jStride] for k < kc, j < cols, zero past cols.
    private static void Pack<T>(T* src, long jStride, long kStride, int cols, int kc, int nr, T* dst) where T : unmanaged, INumberBase<T>
    {
        for (int p = 0; p * nr < cols; p++)
        {
            Gemm.PackB(src + (long)p * nr * jStride, kStride, jStride, kc, Math.Min(nr, cols - p * nr), nr, dst + (long)p * kc * nr);
        }
    }
}
