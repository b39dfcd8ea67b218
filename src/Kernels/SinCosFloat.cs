using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Mlx.Kernels;

/// <summary>
/// Sine and cosine over float32 spans, vectorized (TensorPrimitives.Sin took 5.0 ms for 4M floats here, torch.sin
/// 2.6-2.8). x = j (pi/2) + r with j = round(x * 2/pi) and r reduced in double precision against pi/2 split in two
/// parts (a 29-bit head, so j * head is exact for every |x| below 2^24: RoPE angles of long contexts reduce as well as
/// small ones); sin r and cos r on [-pi/4, pi/4] by the Cephes single-precision polynomials; the quadrant j mod 4
/// picks one and its sign. Lanes of 2^24 and beyond, infinities and NaN take MathF. Within 2 ulp.
/// </summary>
public static class SinCosFloat
{
    // pi/2 = Head + Tail: Head keeps 29 significant bits.
    private const double Head = 1.570796325802803, Tail = 9.920935796805404e-10;
    private const double TwoOverPi = 0.6366197723675814;
    private const float S1 = -1.6666654611e-1f, S2 = 8.3321608736e-3f, S3 = -1.9515295891e-4f;
    private const float C1 = 4.166664568298827e-2f, C2 = -1.388731625493765e-3f, C3 = 2.443315711809948e-5f;
    private const float Limit = 16777216f;

    public static void Sin(ReadOnlySpan<float> x, Span<float> o) => VectorMap.RunWide<SinMap>(x, o);

    public static void Cos(ReadOnlySpan<float> x, Span<float> o) => VectorMap.RunWide<CosMap>(x, o);

    private struct SinMap : IWideFloatMap
    {
        public static Vector512<float> Apply(Vector512<float> x) => Compute(x, 0);
        public static Vector256<float> Apply(Vector256<float> x) => Compute(x, 0);
        public static float Apply(float x) => MathF.Sin(x);
    }

    private struct CosMap : IWideFloatMap
    {
        public static Vector512<float> Apply(Vector512<float> x) => Compute(x, 1);
        public static Vector256<float> Apply(Vector256<float> x) => Compute(x, 1);
        public static float Apply(float x) => MathF.Cos(x);
    }

    /// <summary>sin x (shift 0) or cos x = sin(x + pi/2) (shift 1: one quadrant on).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Compute(Vector256<float> x, int shift)
    {
        if (!Vector256.LessThanAll(Vector256.Abs(x), Vector256.Create(Limit)))
        {
            return ElementByElement(x, shift);
        }
        // Reduce |x| (sine is odd, cosine even): the sign of x comes back at the end, so sin(-0) = -0.
        var (lo, hi) = Vector256.Widen(Vector256.Abs(x));
        var (rLo, jLo) = Reduce(lo);
        var (rHi, jHi) = Reduce(hi);
        var r = Vector256.Narrow(rLo, rHi);
        var q = Vector256.ConvertToInt32(Vector256.Narrow(jLo, jHi)) + Vector256.Create(shift);
        var z = r * r;
        var sin = Vector256.FusedMultiplyAdd(Vector256.FusedMultiplyAdd(Vector256.FusedMultiplyAdd(Vector256.Create(S3), z, Vector256.Create(S2)), z, Vector256.Create(S1)) * z, r, r);
        var cos = Vector256.FusedMultiplyAdd(Vector256.FusedMultiplyAdd(Vector256.FusedMultiplyAdd(Vector256.Create(C3), z, Vector256.Create(C2)), z, Vector256.Create(C1)) * z, z,
            Vector256.FusedMultiplyAdd(Vector256.Create(-0.5f), z, Vector256<float>.One));
        // Quadrants 1 and 3 take the cosine; 2 and 3 flip the sign.
        var odd = Vector256.Equals(q & Vector256<int>.One, Vector256<int>.One).AsSingle();
        var y = Vector256.ConditionalSelect(odd, cos, sin);
        var flip = Vector256.ShiftLeft(q & Vector256.Create(2), 30).AsSingle();
        if (shift == 0) flip ^= x & Vector256.Create(-0f);
        return y ^ flip;
    }

    // Huge, infinite or NaN lanes (the comparison is false for NaN): element by element, out of line so that the hot
    // loop holds no stackalloc (with one inlined into it, the tiered JIT left sin at 2.4x its speed in some processes).
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static Vector256<float> ElementByElement(Vector256<float> x, int shift)
    {
        Span<float> lanes = stackalloc float[Vector256<float>.Count];
        x.CopyTo(lanes);
        for (int i = 0; i < lanes.Length; i++) lanes[i] = shift == 0 ? MathF.Sin(lanes[i]) : MathF.Cos(lanes[i]);
        return Vector256.Create<float>(lanes);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static Vector512<float> ElementByElement(Vector512<float> x, int shift) =>
        Vector512.Create(ElementByElement(x.GetLower(), shift), ElementByElement(x.GetUpper(), shift));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector256<double> R, Vector256<double> J) Reduce(Vector256<double> x)
    {
        var j = Vector256.Round(x * Vector256.Create(TwoOverPi));
        var r = Vector256.FusedMultiplyAdd(-j, Vector256.Create(Head), x);
        r = Vector256.FusedMultiplyAdd(-j, Vector256.Create(Tail), r);
        return (r, j);
    }

    /// <summary>The 16-lane twin of <see cref="Compute(Vector256{float}, int)"/>, step for step.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Compute(Vector512<float> x, int shift)
    {
        if (!Vector512.LessThanAll(Vector512.Abs(x), Vector512.Create(Limit)))
        {
            return ElementByElement(x, shift);
        }
        var (lo, hi) = Vector512.Widen(Vector512.Abs(x));
        var (rLo, jLo) = Reduce(lo);
        var (rHi, jHi) = Reduce(hi);
        var r = Vector512.Narrow(rLo, rHi);
        var q = Vector512.ConvertToInt32(Vector512.Narrow(jLo, jHi)) + Vector512.Create(shift);
        var z = r * r;
        var sin = Vector512.FusedMultiplyAdd(Vector512.FusedMultiplyAdd(Vector512.FusedMultiplyAdd(Vector512.Create(S3), z, Vector512.Create(S2)), z, Vector512.Create(S1)) * z, r, r);
        var cos = Vector512.FusedMultiplyAdd(Vector512.FusedMultiplyAdd(Vector512.FusedMultiplyAdd(Vector512.Create(C3), z, Vector512.Create(C2)), z, Vector512.Create(C1)) * z, z,
            Vector512.FusedMultiplyAdd(Vector512.Create(-0.5f), z, Vector512<float>.One));
        var odd = Vector512.Equals(q & Vector512<int>.One, Vector512<int>.One).AsSingle();
        var y = Vector512.ConditionalSelect(odd, cos, sin);
        var flip = Vector512.ShiftLeft(q & Vector512.Create(2), 30).AsSingle();
        if (shift == 0) flip ^= x & Vector512.Create(-0f);
        return y ^ flip;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector512<double> R, Vector512<double> J) Reduce(Vector512<double> x)
    {
        var j = Vector512.Round(x * Vector512.Create(TwoOverPi));
        var r = Vector512.FusedMultiplyAdd(-j, Vector512.Create(Head), x);
        r = Vector512.FusedMultiplyAdd(-j, Vector512.Create(Tail), r);
        return (r, j);
    }
}
