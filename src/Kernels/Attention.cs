using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
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
    private const int MR = 6;

    // Columns per panel: four AVX-512 vectors (24 accumulators), else two AVX vectors (12 of 16 registers).
    private static int NR<T>() where T : unmanaged =>
        Vector512.IsHardwareAccelerated ? 4 * Vector512<T>.Count : Vector256.IsHardwareAccelerated ? 2 * Vector256<T>.Count : 8;

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
        int nr = NR<T>();
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
                            Micro(d, qb, d, kp + (long)p * d * nr, scores + p * nr, ldS, m, nr);
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
                            Micro(n, scores, ldS, vp + (long)p * lkv * nr, tile, nr, m, nr);
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
            int w = Math.Min(nr, cols - p * nr);
            for (int kk = 0; kk < kc; kk++)
            {
                T* from = src + kk * kStride + (long)p * nr * jStride;
                T* to = dst + ((long)p * kc + kk) * nr;
                if (jStride == 1) new ReadOnlySpan<T>(from, w).CopyTo(new Span<T>(to, w));
                else for (int j = 0; j < w; j++) to[j] = from[j * jStride];
                for (int j = w; j < nr; j++) to[j] = T.Zero;
            }
        }
    }

    /// <summary>
    /// C[m x nr] = A[m x kc] Bp[kc x nr]: A row-major with row stride lda, Bp one packed panel, C rows ldc apart
    /// (all nr columns written). Rows past m repeat row m - 1 and are not stored.
    /// </summary>
    private static void Micro<T>(int kc, T* a, long lda, T* bp, T* c, long ldc, int m, int nr) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T* a0 = a, a1 = a + Math.Min(1, m - 1) * lda, a2 = a + Math.Min(2, m - 1) * lda;
        T* a3 = a + Math.Min(3, m - 1) * lda, a4 = a + Math.Min(4, m - 1) * lda, a5 = a + Math.Min(5, m - 1) * lda;
        if (Vector512.IsHardwareAccelerated)
        {
            int w = Vector512<T>.Count;
            Vector512<T> c00 = default, c01 = default, c02 = default, c03 = default;
            Vector512<T> c10 = default, c11 = default, c12 = default, c13 = default;
            Vector512<T> c20 = default, c21 = default, c22 = default, c23 = default;
            Vector512<T> c30 = default, c31 = default, c32 = default, c33 = default;
            Vector512<T> c40 = default, c41 = default, c42 = default, c43 = default;
            Vector512<T> c50 = default, c51 = default, c52 = default, c53 = default;
            for (int kk = 0; kk < kc; kk++)
            {
                Vector512<T> b0 = Vector512.Load(bp), b1 = Vector512.Load(bp + w), b2 = Vector512.Load(bp + 2 * w), b3 = Vector512.Load(bp + 3 * w);
                Vector512<T> x = Vector512.Create(a0[kk]);
                c00 = Fma(x, b0, c00); c01 = Fma(x, b1, c01); c02 = Fma(x, b2, c02); c03 = Fma(x, b3, c03);
                x = Vector512.Create(a1[kk]);
                c10 = Fma(x, b0, c10); c11 = Fma(x, b1, c11); c12 = Fma(x, b2, c12); c13 = Fma(x, b3, c13);
                x = Vector512.Create(a2[kk]);
                c20 = Fma(x, b0, c20); c21 = Fma(x, b1, c21); c22 = Fma(x, b2, c22); c23 = Fma(x, b3, c23);
                x = Vector512.Create(a3[kk]);
                c30 = Fma(x, b0, c30); c31 = Fma(x, b1, c31); c32 = Fma(x, b2, c32); c33 = Fma(x, b3, c33);
                x = Vector512.Create(a4[kk]);
                c40 = Fma(x, b0, c40); c41 = Fma(x, b1, c41); c42 = Fma(x, b2, c42); c43 = Fma(x, b3, c43);
                x = Vector512.Create(a5[kk]);
                c50 = Fma(x, b0, c50); c51 = Fma(x, b1, c51); c52 = Fma(x, b2, c52); c53 = Fma(x, b3, c53);
                bp += nr;
            }
            c00.Store(c); c01.Store(c + w); c02.Store(c + 2 * w); c03.Store(c + 3 * w);
            if (m > 1) { c += ldc; c10.Store(c); c11.Store(c + w); c12.Store(c + 2 * w); c13.Store(c + 3 * w); }
            if (m > 2) { c += ldc; c20.Store(c); c21.Store(c + w); c22.Store(c + 2 * w); c23.Store(c + 3 * w); }
            if (m > 3) { c += ldc; c30.Store(c); c31.Store(c + w); c32.Store(c + 2 * w); c33.Store(c + 3 * w); }
            if (m > 4) { c += ldc; c40.Store(c); c41.Store(c + w); c42.Store(c + 2 * w); c43.Store(c + 3 * w); }
            if (m > 5) { c += ldc; c50.Store(c); c51.Store(c + w); c52.Store(c + 2 * w); c53.Store(c + 3 * w); }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            int w = Vector256<T>.Count;
            Vector256<T> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
            Vector256<T> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
            for (int kk = 0; kk < kc; kk++)
            {
                Vector256<T> b0 = Vector256.Load(bp), b1 = Vector256.Load(bp + w);
                Vector256<T> x = Vector256.Create(a0[kk]);
                c00 = Fma(x, b0, c00); c01 = Fma(x, b1, c01);
                x = Vector256.Create(a1[kk]);
                c10 = Fma(x, b0, c10); c11 = Fma(x, b1, c11);
                x = Vector256.Create(a2[kk]);
                c20 = Fma(x, b0, c20); c21 = Fma(x, b1, c21);
                x = Vector256.Create(a3[kk]);
                c30 = Fma(x, b0, c30); c31 = Fma(x, b1, c31);
                x = Vector256.Create(a4[kk]);
                c40 = Fma(x, b0, c40); c41 = Fma(x, b1, c41);
                x = Vector256.Create(a5[kk]);
                c50 = Fma(x, b0, c50); c51 = Fma(x, b1, c51);
                bp += nr;
            }
            c00.Store(c); c01.Store(c + w);
            if (m > 1) { c10.Store(c + ldc); c11.Store(c + ldc + w); }
            if (m > 2) { c20.Store(c + 2 * ldc); c21.Store(c + 2 * ldc + w); }
            if (m > 3) { c30.Store(c + 3 * ldc); c31.Store(c + 3 * ldc + w); }
            if (m > 4) { c40.Store(c + 4 * ldc); c41.Store(c + 4 * ldc + w); }
            if (m > 5) { c50.Store(c + 5 * ldc); c51.Store(c + 5 * ldc + w); }
        }
        else
        {
            for (int i = 0; i < m; i++)
            {
                T* ai = a + i * lda;
                for (int j = 0; j < nr; j++)
                {
                    T acc = T.Zero;
                    for (int kk = 0; kk < kc; kk++) acc += ai[kk] * bp[kk * nr + j];
                    c[i * ldc + j] = acc;
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<T> Fma<T>(Vector512<T> a, Vector512<T> b, Vector512<T> c) where T : unmanaged =>
        typeof(T) == typeof(float)
            ? Vector512.FusedMultiplyAdd(a.AsSingle(), b.AsSingle(), c.AsSingle()).As<float, T>()
            : Vector512.FusedMultiplyAdd(a.AsDouble(), b.AsDouble(), c.AsDouble()).As<double, T>();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<T> Fma<T>(Vector256<T> a, Vector256<T> b, Vector256<T> c) where T : unmanaged =>
        typeof(T) == typeof(float)
            ? Vector256.FusedMultiplyAdd(a.AsSingle(), b.AsSingle(), c.AsSingle()).As<float, T>()
            : Vector256.FusedMultiplyAdd(a.AsDouble(), b.AsDouble(), c.AsDouble()).As<double, T>();
}
