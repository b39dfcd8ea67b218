using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Mlx.Kernels;

/// <summary>
/// exp over float32 spans, vectorized over the whole float range (TensorPrimitives.Exp for float ran at about one
/// element per 5 cycles here): Cephes expf's range reduction x = k ln2 + r, |r| &lt;= ln2/2, a degree-6 polynomial
/// for e^r (about 1 ulp), and 2^k applied in two halves so that results in the subnormal range and overflow to
/// infinity come out right; NaN stays NaN.
/// </summary>
public static class ExpFloat
{
    internal const float Log2E = 1.44269504f, Ln2Hi = 0.693359375f, Ln2Lo = -2.12194440e-4f, RoundMagic = 12582912f;
    internal const float P0 = 1.9875691500e-4f, P1 = 1.3981999507e-3f, P2 = 8.3334519073e-3f, P3 = 4.1665795894e-2f,
        P4 = 1.6666665459e-1f, P5 = 5.0000001201e-1f;

    // Past these the result is 0 or infinity whatever k is; clamping keeps k (and both half scales) in range.
    private const float Lowest = -104f, Highest = 89f;

    public static void Run(ReadOnlySpan<float> x, Span<float> o) => VectorMap.RunWide<Map>(x, o);

    private struct Map : IWideFloatMap
    {
        public static Vector512<float> Apply(Vector512<float> x) => Exp(x);
        public static Vector256<float> Apply(Vector256<float> x) => Exp(x);
        public static float Apply(float x) => MathF.Exp(x);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> Exp(Vector256<float> x)
    {
        var t = Vector256.Min(Vector256.Max(x, Vector256.Create(Lowest)), Vector256.Create(Highest));
        var kr = Vector256.FusedMultiplyAdd(t, Vector256.Create(Log2E), Vector256.Create(RoundMagic));
        var k = kr - Vector256.Create(RoundMagic);
        var r = Vector256.FusedMultiplyAdd(k, Vector256.Create(-Ln2Hi), t);
        r = Vector256.FusedMultiplyAdd(k, Vector256.Create(-Ln2Lo), r);
        var p = Vector256.FusedMultiplyAdd(Vector256.Create(P0), r, Vector256.Create(P1));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(P2));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(P3));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(P4));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(P5));
        p = Vector256.FusedMultiplyAdd(p, r * r, r + Vector256<float>.One);
        // k sits in kr's low bits (offset by the magic); 2^k as 2^k1 * 2^k2, each a normal float.
        var ki = kr.AsInt32() - Vector256.Create(BitConverter.SingleToInt32Bits(RoundMagic));
        var k1 = Vector256.ShiftRightArithmetic(ki, 1);
        var k2 = ki - k1;
        var s1 = ((k1 + Vector256.Create(127)) << 23).AsSingle();
        var s2 = ((k2 + Vector256.Create(127)) << 23).AsSingle();
        var e = p * s1 * s2;
        return Vector256.ConditionalSelect(Vector256.Equals(x, x), e, x);
    }

    /// <summary>The 16-lane twin of <see cref="Exp(Vector256{float})"/>, step for step.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> Exp(Vector512<float> x)
    {
        var t = Vector512.Min(Vector512.Max(x, Vector512.Create(Lowest)), Vector512.Create(Highest));
        var kr = Vector512.FusedMultiplyAdd(t, Vector512.Create(Log2E), Vector512.Create(RoundMagic));
        var k = kr - Vector512.Create(RoundMagic);
        var r = Vector512.FusedMultiplyAdd(k, Vector512.Create(-Ln2Hi), t);
        r = Vector512.FusedMultiplyAdd(k, Vector512.Create(-Ln2Lo), r);
        var p = Vector512.FusedMultiplyAdd(Vector512.Create(P0), r, Vector512.Create(P1));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(P2));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(P3));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(P4));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(P5));
        p = Vector512.FusedMultiplyAdd(p, r * r, r + Vector512<float>.One);
        var ki = kr.AsInt32() - Vector512.Create(BitConverter.SingleToInt32Bits(RoundMagic));
        var k1 = Vector512.ShiftRightArithmetic(ki, 1);
        var k2 = ki - k1;
        var s1 = ((k1 + Vector512.Create(127)) << 23).AsSingle();
        var s2 = ((k2 + Vector512.Create(127)) << 23).AsSingle();
        var e = p * s1 * s2;
        return Vector512.ConditionalSelect(Vector512.Equals(x, x), e, x);
    }
}
