using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace Mlx.Kernels;

/// <summary>
/// Fused attention softmax(scale · Q Kᵀ) V, optionally causal, one block of query rows at a time: the block's
/// scores (rows x L_kv) are computed by GEMM into a buffer sized to stay in L2, turned into probabilities in
/// place, and multiplied by V, so the (L_q x L_kv) score matrix never goes through memory. Blocks run in parallel.
/// </summary>
public static unsafe class Attention
{
    // Score block size aimed at: well inside one core's L2 with room for the packed panels of K and V.
    private const int ScoreBytes = 256 * 1024;
    private const int MaxBlockRows = 128;
    private const int MinBlockRows = 16;

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
        int group = heads / kvHeads;
        long diagonal = (long)lkv - lq;
        long ktSize = (long)d * lkv;
        // Kᵀ once per key head, row-major, so that every block packs its GEMM panels by contiguous copies.
        T* kt = (T*)NativeMemory.AlignedAlloc((nuint)(Math.Max(1, batch * kvHeads * ktSize) * sizeof(T)), 64);
        nint pq = (nint)q, pk = (nint)k, pv = (nint)v, po = (nint)o, pkt = (nint)kt;
        try
        {
            Parallelism.For((long)batch * kvHeads, ktSize, (s, e) =>
            {
                for (long p = s; p < e; p++)
                {
                    T* src = (T*)pk + p / kvHeads * ks[0] + p % kvHeads * ks[1];
                    T* dst = (T*)pkt + p * ktSize;
                    for (int j = 0; j < lkv; j++)
                    {
                        for (int c = 0; c < d; c++)
                        {
                            dst[(long)c * lkv + j] = src[j * ks[2] + c * ks[3]];
                        }
                    }
                }
            });
            int rows = Math.Clamp(ScoreBytes / Math.Max(1, lkv * sizeof(T)), MinBlockRows, MaxBlockRows);
            int blocks = (lq + rows - 1) / rows;
            rows = (lq + blocks - 1) / blocks; // equal blocks: no short last one
            T uniform = T.One / T.CreateChecked(Math.Max(1, lkv));
            Parallelism.For((long)batch * heads * blocks, (long)rows * lkv * (d + dv), (s, e) =>
            {
                T* scores = (T*)NativeMemory.AlignedAlloc((nuint)(Math.Max(1L, (long)rows * lkv) * sizeof(T)), 64);
                try
                {
                    for (long item = s; item < e; item++)
                    {
                        int blk = (int)(item % blocks);
                        long bh = item / blocks;
                        long b = bh / heads, h = bh % heads, kvh = b * kvHeads + h / group;
                        int i0 = blk * rows, m = Math.Min(rows, lq - i0);
                        // Causal blocks need only the keys their last row sees, unless some row sees none.
                        int n = !causal || i0 + diagonal < 0 ? lkv : (int)Math.Min(lkv, i0 + m + diagonal);
                        Gemm.Run(m, n, d, (T*)pq + b * qs[0] + h * qs[1] + i0 * qs[2], qs[2], qs[3], (T*)pkt + kvh * ktSize, lkv, 1,
                            scores, n, T.One, T.Zero, 1);
                        for (int r = 0; r < m; r++)
                        {
                            var row = new Span<T>(scores + (long)r * n, n);
                            int seen = causal ? (int)Math.Clamp(i0 + r + diagonal + 1, 0, n) : n;
                            if (seen == 0)
                            {
                                row.Fill(uniform);
                                continue;
                            }
                            var live = row[..seen];
                            TensorPrimitives.Multiply(live, scale, live);
                            TensorPrimitives.Subtract(live, TensorPrimitives.Max<T>(live), live);
                            TensorPrimitives.Exp<T>(live, live);
                            TensorPrimitives.Divide(live, TensorPrimitives.Sum<T>(live), live);
                            row[seen..].Clear();
                        }
                        T* vHead = (T*)pv + kvh / kvHeads * vs[0] + kvh % kvHeads * vs[1];
                        Gemm.Run(m, dv, n, scores, n, 1, vHead, vs[2], vs[3], (T*)po + (bh * lq + i0) * dv, dv, T.One, T.Zero, 1);
                    }
                }
                finally
                {
                    NativeMemory.AlignedFree(scores);
                }
            });
        }
        finally
        {
            NativeMemory.AlignedFree(kt);
        }
    }
}
