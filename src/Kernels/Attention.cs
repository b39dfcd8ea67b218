using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;

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

    /// <summary>x = exp(x - max(x)) in place, returning the sum (float32 through the softmax kernel's vectorized exp).</summary>
    private static T ExpSum<T>(Span<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float))
        {
            fixed (T* p = x)
            {
                return (T)(object)Softmax.ExpSum((float*)p, (float*)p, x.Length, out _);
            }
        }
        TensorPrimitives.Subtract(x, TensorPrimitives.Max<T>(x), x);
        TensorPrimitives.Exp<T>(x, x);
        return TensorPrimitives.Sum<T>(x);
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
