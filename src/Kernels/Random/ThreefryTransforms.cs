using System.Runtime.CompilerServices;

namespace Mlx.Kernels.Random;

public static partial class Threefry
{
    /// <summary><c>std::nextafter(1.0f, 0.0f)</c> = 0x3F7FFFFF = 0.99999994f: MLX's float32 upper clamp for uniform.</summary>
    public static readonly float BelowOne = BitConverter.Int32BitsToSingle(0x3F7FFFFF);

    /// <summary><c>std::nextafter(-1.0f, 0.0f)</c> = 0xBF7FFFFF = -0.99999994f: MLX's lower bound for normal / laplace.</summary>
    public static readonly float AboveMinusOne = BitConverter.Int32BitsToSingle(unchecked((int)0xBF7FFFFF));

    /// <summary><c>array(std::numeric_limits&lt;uint32_t&gt;::max(), float32)</c> = 4294967296f (2^32 after rounding).</summary>
    public const float UInt32MaxAsFloat = 4294967296f;

    /// <summary><c>array(std::sqrt(2.0), float32)</c> = 1.41421354f (0x3FB504F3).</summary>
    public const float Sqrt2 = 1.41421354f;

    /// <summary>
    /// MLX's bits-to-unit conversion inside <c>random::uniform</c> (float32):
    /// <c>u = min((float)bits / 4294967296f, 0.99999994f)</c>, i.e.
    /// <c>minimum(divide(bits(shape, 4, key), array(UINT32_MAX, float32)), nextafter(1f, 0f))</c>;
    /// the uint32 is converted to float32 with round-to-nearest-even before the (IEEE, correctly rounded) division.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float UniformUnit(uint bits)
    {
        float u = (float)bits / UInt32MaxAsFloat;
        return u < BelowOne ? u : BelowOne;
    }

    /// <summary>
    /// One element of MLX's float32 <c>random::uniform(low, high, shape, float32, key)</c>:
    /// <c>range = high - low</c> (float32), <c>out = range * UniformUnit(bits) + low</c>, the multiply and add
    /// rounded separately (two MLX ops, no FMA). <paramref name="bits"/> is the element of
    /// <c>bits(shape, 4, key)</c> at the same flat index (see <see cref="FillBits(uint, uint, Span{uint})"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Uniform(uint bits, float low, float high)
    {
        float range = high - low;
        float product = range * UniformUnit(bits);
        return product + low;
    }

    /// <summary>
    /// MLX's float32 <c>mx.random.uniform(low, high, shape, key=key)</c> over the output of
    /// <c>bits(shape, 4, key)</c>: <c>output[i] = (high - low) * min((float)bits[i] / 2^32, 0.99999994f) + low</c>.
    /// Scalar (broadcast) low / high; for per-element bounds call <see cref="Uniform(uint, float, float)"/>.
    /// </summary>
    public static void Uniform(ReadOnlySpan<uint> bits, Span<float> output, float low = 0f, float high = 1f)
    {
        if (output.Length != bits.Length)
            throw new ArgumentException("Output length must equal bits length.", nameof(output));
        float range = high - low;
        for (int i = 0; i < bits.Length; i++)
        {
            float product = range * UniformUnit(bits[i]);
            output[i] = product + low;
        }
    }

    /// <summary>
    /// Fills <paramref name="output"/> exactly like MLX's float32 <c>mx.random.uniform(low, high, shape, key=(key0, key1))</c>
    /// with <c>product(shape) = output.Length</c>: generates the bits in place, then transforms them.
    /// </summary>
    public static void Uniform(uint key0, uint key1, Span<float> output, float low = 0f, float high = 1f)
    {
        Span<uint> bits = System.Runtime.InteropServices.MemoryMarshal.Cast<float, uint>(output);
        FillBits(key0, key1, bits);
        Uniform(bits, output, low, high);
    }

    /// <summary>
    /// One element of MLX's float32 <c>random::normal(shape, float32, loc, scale, key)</c>:
    /// <c>u = Uniform(bits, -0.99999994f, 1f)</c> (so <c>range = 1f - (-0.99999994f) = 2f</c> in float32),
    /// <c>s = ErfInv(u)</c>, <c>applied = scale is null ? Sqrt2 : Sqrt2 * scale</c> (float32 multiply),
    /// <c>x = applied * s</c>, then <c>loc is null ? x : loc + x</c>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Normal(uint bits, float? loc = null, float? scale = null)
    {
        float applied = scale.HasValue ? Sqrt2 * scale.GetValueOrDefault() : Sqrt2;
        float x = applied * ErfInv(Uniform(bits, AboveMinusOne, 1f));
        return loc.HasValue ? loc.GetValueOrDefault() + x : x;
    }

    /// <summary>
    /// MLX's float32 <c>mx.random.normal(shape, loc=loc, scale=scale, key=key)</c> over the output of
    /// <c>bits(shape, 4, key)</c>: per element <c>[loc +] ((Sqrt2 [* scale]) * ErfInv((1f - (-0.99999994f)) * UniformUnit(bits) + (-0.99999994f)))</c>.
    /// <c>null</c> loc / scale mean "not given" (MLX then skips the add / the multiply by scale).
    /// </summary>
    public static void Normal(ReadOnlySpan<uint> bits, Span<float> output, float? loc = null, float? scale = null)
    {
        if (output.Length != bits.Length)
            throw new ArgumentException("Output length must equal bits length.", nameof(output));
        float applied = scale.HasValue ? Sqrt2 * scale.GetValueOrDefault() : Sqrt2;
        float low = AboveMinusOne;
        float range = 1f - low;
        bool hasLoc = loc.HasValue;
        float l = loc.GetValueOrDefault();
        for (int i = 0; i < bits.Length; i++)
        {
            float product = range * UniformUnit(bits[i]);
            float x = applied * ErfInv(product + low);
            output[i] = hasLoc ? l + x : x;
        }
    }

    /// <summary>
    /// Fills <paramref name="output"/> exactly like MLX's float32 <c>mx.random.normal(shape, loc=loc, scale=scale, key=(key0, key1))</c>
    /// with <c>product(shape) = output.Length</c>.
    /// </summary>
    public static void Normal(uint key0, uint key1, Span<float> output, float? loc = null, float? scale = null)
    {
        Span<uint> bits = System.Runtime.InteropServices.MemoryMarshal.Cast<float, uint>(output);
        FillBits(key0, key1, bits);
        Normal(bits, output, loc, scale);
    }

    /// <summary>
    /// MLX's CPU <c>erfinv</c> for float32 (<c>mlx/backend/cpu/simd/math.h</c>, scalar path):
    /// <c>t = log(fma(a, -a, 1))</c>; if <c>|t| &gt; 6.125</c> the 9-term polynomial
    /// (3.03697567e-10 ... 8.40016484e-1) else the 10-term one (5.43877832e-9 ... 8.86226892e-1), each evaluated by
    /// Horner with fused multiply-adds; result <c>a * p(t)</c>. <c>log</c> is the platform <c>logf</c>
    /// (<see cref="MathF.Log(float)"/>), as MLX's scalar path calls <c>std::log(float)</c>; bit-exactness with MLX therefore
    /// holds against MLX built on the same C library (Linux / glibc). MLX's Accelerate (macOS, 8-wide) path uses a
    /// vector log and may differ in the last bit.
    /// </summary>
    public static float ErfInv(float a)
    {
        float t = MathF.FusedMultiplyAdd(a, 0.0f - a, 1.0f);
        t = MathF.Log(t);
        float p;
        if (MathF.Abs(t) > 6.125f)
        {
            p = 3.03697567e-10f;
            p = MathF.FusedMultiplyAdd(p, t, 2.93243101e-8f);
            p = MathF.FusedMultiplyAdd(p, t, 1.22150334e-6f);
            p = MathF.FusedMultiplyAdd(p, t, 2.84108955e-5f);
            p = MathF.FusedMultiplyAdd(p, t, 3.93552968e-4f);
            p = MathF.FusedMultiplyAdd(p, t, 3.02698812e-3f);
            p = MathF.FusedMultiplyAdd(p, t, 4.83185798e-3f);
            p = MathF.FusedMultiplyAdd(p, t, -2.64646143e-1f);
            p = MathF.FusedMultiplyAdd(p, t, 8.40016484e-1f);
        }
        else
        {
            p = 5.43877832e-9f;
            p = MathF.FusedMultiplyAdd(p, t, 1.43285448e-7f);
            p = MathF.FusedMultiplyAdd(p, t, 1.22774793e-6f);
            p = MathF.FusedMultiplyAdd(p, t, 1.12963626e-7f);
            p = MathF.FusedMultiplyAdd(p, t, -5.61530760e-5f);
            p = MathF.FusedMultiplyAdd(p, t, -1.47697632e-4f);
            p = MathF.FusedMultiplyAdd(p, t, 2.31468678e-3f);
            p = MathF.FusedMultiplyAdd(p, t, 1.15392581e-2f);
            p = MathF.FusedMultiplyAdd(p, t, -2.32015476e-1f);
            p = MathF.FusedMultiplyAdd(p, t, 8.86226892e-1f);
        }
        return a * p;
    }

    /// <summary>Span form of <see cref="ErfInv(float)"/>.</summary>
    public static void ErfInv(ReadOnlySpan<float> input, Span<float> output)
    {
        if (output.Length != input.Length)
            throw new ArgumentException("Output length must equal input length.", nameof(output));
        for (int i = 0; i < input.Length; i++)
            output[i] = ErfInv(input[i]);
    }

    /// <summary>
    /// MLX's CPU <c>erf</c> for float32 (<c>mlx/backend/cpu/simd/math.h</c>, scalar path; Abramowitz-Stegun 7.1.26 as in
    /// PyTorch): <c>t = 1 / fma(0.3275911, |x|, 1)</c>,
    /// <c>r = fma(fma(fma(fma(1.061405429, t, -1.453152027), t, 1.421413741), t, -0.284496736), t, 0.254829592)</c>,
    /// <c>e = -MlxExp(-x * x)</c>, <c>y = fma(e * t, r, 1)</c>, result <c>x &gt; 0 ? y : -y</c>.
    /// Needed by <c>truncated_normal</c>.
    /// </summary>
    public static float Erf(float x)
    {
        float t = 1.0f / MathF.FusedMultiplyAdd(0.3275911f, MathF.Abs(x), 1.0f);
        float r = MathF.FusedMultiplyAdd(1.061405429f, t, -1.453152027f);
        r = MathF.FusedMultiplyAdd(r, t, 1.421413741f);
        r = MathF.FusedMultiplyAdd(r, t, -0.284496736f);
        r = MathF.FusedMultiplyAdd(r, t, 0.254829592f);
        float e = -MlxExp(-x * x);
        float y = MathF.FusedMultiplyAdd(e * t, r, 1.0f);
        return x > 0 ? y : -y;
    }

    /// <summary>
    /// MLX's CPU <c>exp</c> for float32 (<c>mlx/backend/cpu/simd/math.h</c>, scalar path, Cephes polynomial):
    /// <c>y = x * 1.442695f</c>; <c>i = (float)floor((double)y + 0.5)</c> (the scalar path adds the double 0.5);
    /// <c>f = y - i</c>; degree-6 Horner polynomial in <c>f</c> with fused multiply-adds
    /// (1.535336188319500e-4 ... 1.0); result <c>bitcast((int(i) + 127) &lt;&lt; 23) * p</c>, NaN passes through,
    /// <c>x &gt; 88 → +inf</c>, <c>x &lt; -88 → 0</c>. Used by MLX's <c>exp</c> op and by <see cref="Erf(float)"/>.
    /// </summary>
    public static float MlxExp(float x)
    {
        float y = x * 1.442695f;
        float ipart = (float)Math.Floor((double)y + 0.5);
        float fpart = y - ipart;
        float p = 1.535336188319500e-4f;
        p = MathF.FusedMultiplyAdd(p, fpart, 1.339887440266574e-3f);
        p = MathF.FusedMultiplyAdd(p, fpart, 9.618437357674640e-3f);
        p = MathF.FusedMultiplyAdd(p, fpart, 5.550332471162809e-2f);
        p = MathF.FusedMultiplyAdd(p, fpart, 2.402264791363012e-1f);
        p = MathF.FusedMultiplyAdd(p, fpart, 6.931472028550421e-1f);
        p = MathF.FusedMultiplyAdd(p, fpart, 1.000000000000000f);
        if (float.IsNaN(x)) return x;
        if (x > 88.0f) return float.PositiveInfinity;
        if (x < -88.0f) return 0f;
        int epart = unchecked(((int)ipart + 127) << 23);
        return BitConverter.Int32BitsToSingle(epart) * p;
    }
}
