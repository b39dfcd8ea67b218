using ILGPU;
using ILGPU.Algorithms;

namespace Mlx.Kernels.Gpu;

// Scalar math inside ILGPU kernels. ILGPU compiles these to PTX (or runs them on its CPU accelerator), so they use
// XMath and plain arithmetic only: no System.Half, no generic math, no exceptions. The semantics follow the CPU
// kernels in Mlx.Kernels (Ops.cs, UnaryFloat.cs) case for case.

/// <summary>Elementwise math over one compute type; <c>op</c> is a <see cref="UnaryOp"/> or <see cref="BinaryOp"/> code.</summary>
public interface IGpuOps<T> where T : unmanaged
{
    T Unary(int op, T x);

    T Binary(int op, T a, T b);

    bool Compare(int op, T a, T b);

    /// <summary>IsNaN, IsInf, IsPosInf, IsNegInf.</summary>
    bool Classify(int op, T x);
}

internal static class FloatMath
{
    private const float SqrtPiOver2 = 0.886226925f;

    public static float Unary(int op, float x) => (UnaryOp)op switch
    {
        UnaryOp.Abs => XMath.Abs(x),
        UnaryOp.Negative => -x,
        UnaryOp.Exp => Exact32.Exp(x),
        UnaryOp.Expm1 => (float)DoubleMath.Expm1(x),
        UnaryOp.Log => Exact32.Log(x),
        UnaryOp.Log2 => Exact32.Log2(x),
        UnaryOp.Log10 => Exact32.Log10(x),
        UnaryOp.Log1p => (float)DoubleMath.Log1p(x),
        // ILGPU maps float32 sin, cos, tanh (and exp2, log2) to PTX's .approx instructions (errors up to ~2^-11, worse
        // outside [-pi, pi]); through double they are as accurate as the CPU's.
        UnaryOp.Sin or UnaryOp.Cos or UnaryOp.Tan or UnaryOp.Arcsin or UnaryOp.Arccos or UnaryOp.Arctan or UnaryOp.Sinh or UnaryOp.Cosh
            or UnaryOp.Tanh or UnaryOp.Arcsinh or UnaryOp.Arccosh or UnaryOp.Arctanh or UnaryOp.Cbrt or UnaryOp.Erf => (float)DoubleMath.Unary(op, x),
        UnaryOp.Sigmoid => x < 0 ? Exact32.Exp(x) / (1 + Exact32.Exp(x)) : 1 / (1 + Exact32.Exp(-x)),
        UnaryOp.Sqrt => XMath.Sqrt(x),
        UnaryOp.Rsqrt => 1 / XMath.Sqrt(x),
        UnaryOp.Reciprocal => 1 / x,
        UnaryOp.Square => x * x,
        UnaryOp.Floor => XMath.Floor(x),
        UnaryOp.Ceil => XMath.Ceiling(x),
        UnaryOp.Round => Exact32.RoundHalfEven(x),
        UnaryOp.Erfinv => Erfinv(x),
        UnaryOp.Sign => XMath.IsNaN(x) ? x : (x > 0 ? 1 : (x < 0 ? -1 : 0)),
        UnaryOp.Degrees => x * (float)(180.0 / Math.PI),
        UnaryOp.Radians => x * (float)(Math.PI / 180.0),
        _ => x,
    };

    /// <summary>Giles' single-precision approximation ("Approximating the erfinv function", GPU Computing Gems).</summary>
    public static float Erfinv(float x)
    {
        if (x <= -1 || x >= 1)
        {
            return x == 1 ? float.PositiveInfinity : (x == -1 ? float.NegativeInfinity : float.NaN);
        }
        float w = -Exact32.Log((1.0f - x) * (1.0f + x));
        float p;
        if (w < 5.0f)
        {
            w -= 2.5f;
            p = 2.81022636e-08f;
            p = 3.43273939e-07f + p * w;
            p = -3.5233877e-06f + p * w;
            p = -4.39150654e-06f + p * w;
            p = 0.00021858087f + p * w;
            p = -0.00125372503f + p * w;
            p = -0.00417768164f + p * w;
            p = 0.246640727f + p * w;
            p = 1.50140941f + p * w;
        }
        else
        {
            w = XMath.Sqrt(w) - 3.0f;
            p = -0.000200214257f;
            p = 0.000100950558f + p * w;
            p = 0.00134934322f + p * w;
            p = -0.00367342844f + p * w;
            p = 0.00573950773f + p * w;
            p = -0.0076224613f + p * w;
            p = 0.00943887047f + p * w;
            p = 1.00167406f + p * w;
            p = 2.83297682f + p * w;
        }
        float y = p * x;
        // One Newton step on erf(y) = x tightens the last bits.
        float err = (float)DoubleMath.Erf(y) - x;
        return y - err * SqrtPiOver2 * Exact32.Exp(y * y);
    }

    // The basic arithmetic stays in float32 (as the CPU computes it: floor(a / b) must round a / b in float32 first);
    // the rest go through double, exact for comparisons and at least as accurate for the transcendental ones.
    public static float Binary(int op, float a, float b) => (BinaryOp)op switch
    {
        BinaryOp.Add => a + b,
        BinaryOp.Subtract => a - b,
        BinaryOp.Multiply => a * b,
        BinaryOp.Divide => a / b,
        BinaryOp.FloorDivide => XMath.Floor(a / b),
        BinaryOp.Maximum => XMath.IsNaN(a) ? a : (XMath.IsNaN(b) ? b : (a > b ? a : b)),
        BinaryOp.Minimum => XMath.IsNaN(a) ? a : (XMath.IsNaN(b) ? b : (a < b ? a : b)),
        _ => (float)DoubleMath.Binary(op, a, b),
    };
}

internal static class DoubleMath
{
    public static double Unary(int op, double x) => (UnaryOp)op switch
    {
        UnaryOp.Abs => XMath.Abs(x),
        UnaryOp.Negative => -x,
        UnaryOp.Exp => XMath.Exp(x),
        UnaryOp.Expm1 => Expm1(x),
        UnaryOp.Log => XMath.Log(x),
        UnaryOp.Log2 => XMath.Log2(x),
        UnaryOp.Log10 => XMath.Log10(x),
        UnaryOp.Log1p => Log1p(x),
        UnaryOp.Sin => XMath.Sin(x),
        UnaryOp.Cos => XMath.Cos(x),
        UnaryOp.Tan => XMath.Tan(x),
        UnaryOp.Arcsin => XMath.Asin(x),
        UnaryOp.Arccos => XMath.Acos(x),
        UnaryOp.Arctan => XMath.Atan(x),
        UnaryOp.Sinh => XMath.Sinh(x),
        UnaryOp.Cosh => XMath.Cosh(x),
        UnaryOp.Tanh => XMath.Tanh(x),
        UnaryOp.Arcsinh => x < 0 ? -Asinh(-x) : Asinh(x),
        UnaryOp.Arccosh => XMath.Log(x + XMath.Sqrt(x * x - 1)),
        UnaryOp.Arctanh => 0.5 * Log1p(2 * x / (1 - x)),
        UnaryOp.Sigmoid => x < 0 ? XMath.Exp(x) / (1 + XMath.Exp(x)) : 1 / (1 + XMath.Exp(-x)),
        UnaryOp.Sqrt => XMath.Sqrt(x),
        UnaryOp.Rsqrt => 1 / XMath.Sqrt(x),
        UnaryOp.Reciprocal => 1 / x,
        UnaryOp.Square => x * x,
        UnaryOp.Floor => XMath.Floor(x),
        UnaryOp.Ceil => XMath.Ceiling(x),
        UnaryOp.Round => Exact32.RoundHalfEven(x),
        UnaryOp.Cbrt => Cbrt(x),
        UnaryOp.Erf => Erf(x),
        UnaryOp.Erfinv => Erfinv(x),
        UnaryOp.Sign => XMath.IsNaN(x) ? x : (x > 0 ? 1 : (x < 0 ? -1 : 0)),
        UnaryOp.Degrees => x * (180.0 / Math.PI),
        UnaryOp.Radians => x * (Math.PI / 180.0),
        _ => x,
    };

    // exp(x) - 1 and log(1 + x) without cancellation near 0 (Kahan's correction by the rounded argument).
    public static double Expm1(double x)
    {
        double u = XMath.Exp(x);
        if (u == 1.0)
        {
            return x;
        }
        double um1 = u - 1.0;
        return um1 == -1.0 || XMath.IsInfinity(u) ? um1 : um1 * x / XMath.Log(u);
    }

    public static double Log1p(double x)
    {
        double u = 1.0 + x;
        return u == 1.0 || XMath.IsInfinity(u) ? (u == 1.0 ? x : u) : XMath.Log(u) * x / (u - 1.0);
    }

    private static double Asinh(double x) => Log1p(x + x * x / (1 + XMath.Sqrt(1 + x * x)));

    private static double Cbrt(double x)
    {
        if (x == 0 || XMath.IsNaN(x) || XMath.IsInfinity(x))
        {
            return x;
        }
        double a = XMath.Abs(x);
        double y = XMath.Pow(a, 1.0 / 3.0);
        y -= (y * y * y - a) / (3 * y * y);
        return x < 0 ? -y : y;
    }

    /// <summary>erf: its Taylor series near 0, else 1 - erfc by the continued-fraction-free Chebyshev fit of Numerical Recipes (relative error below 1.2e-7).</summary>
    public static double Erf(double x)
    {
        if (XMath.IsNaN(x))
        {
            return x;
        }
        double a = XMath.Abs(x);
        double r;
        if (a < 0.5)
        {
            double x2 = a * a, term = a, sum = a;
            for (int n = 1; n < 12; n++)
            {
                term *= -x2 / n;
                sum += term / (2 * n + 1);
            }
            r = sum * 1.1283791670955126;
        }
        else
        {
            double t = 1.0 / (1.0 + 0.5 * a);
            double erfc = t * XMath.Exp(-a * a - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418
                + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
            r = 1.0 - erfc;
        }
        return x < 0 ? -r : r;
    }

    private static double Erfinv(double x)
    {
        double y = FloatMath.Erfinv((float)x);
        if (XMath.IsInfinity(y) || XMath.IsNaN(y))
        {
            return y;
        }
        for (int i = 0; i < 2; i++)
        {
            y -= (Erf(y) - x) * 0.886226925452758 * XMath.Exp(y * y);
        }
        return y;
    }

    public static double Binary(int op, double a, double b)
    {
        switch ((BinaryOp)op)
        {
            case BinaryOp.Add: return a + b;
            case BinaryOp.Subtract: return a - b;
            case BinaryOp.Multiply: return a * b;
            case BinaryOp.Divide: return a / b;
            case BinaryOp.FloorDivide: return XMath.Floor(a / b);
            case BinaryOp.Remainder:
                {
                    double r = XMath.Rem(a, b);
                    return r != 0 && (r < 0) != (b < 0) ? r + b : r;
                }
            case BinaryOp.Power: return XMath.Pow(a, b);
            case BinaryOp.Maximum: return XMath.IsNaN(a) ? a : (XMath.IsNaN(b) ? b : (a > b ? a : b));
            case BinaryOp.Minimum: return XMath.IsNaN(a) ? a : (XMath.IsNaN(b) ? b : (a < b ? a : b));
            case BinaryOp.LogAddExp:
                {
                    if (XMath.IsNaN(a) || XMath.IsNaN(b))
                    {
                        return double.NaN;
                    }
                    double max = a > b ? a : b, min = a > b ? b : a;
                    return XMath.IsInfinity(max) && max < 0 ? max : max + Log1p(XMath.Exp(min - max));
                }
            case BinaryOp.ArcTan2: return XMath.Atan2(a, b);
            default: return 0;
        }
    }

    public static bool Compare(int op, double a, double b) => (BinaryOp)op switch
    {
        BinaryOp.Equal => a == b,
        BinaryOp.NotEqual => a != b,
        BinaryOp.Less => a < b,
        BinaryOp.LessEqual => a <= b,
        BinaryOp.Greater => a > b,
        BinaryOp.GreaterEqual => a >= b,
        _ => a == b || (XMath.IsNaN(a) && XMath.IsNaN(b)),
    };

    public static bool Classify(int op, double x) => (UnaryOp)op switch
    {
        UnaryOp.IsNaN => XMath.IsNaN(x),
        UnaryOp.IsInf => XMath.IsInfinity(x),
        UnaryOp.IsPosInf => XMath.IsInfinity(x) && x > 0,
        _ => XMath.IsInfinity(x) && x < 0,
    };
}

/// <summary>Signed integer math of width <c>bits</c> (32 or 64) computed in 64 bits; the caller truncates to the width.</summary>
internal static class SignedMath
{
    public static long Unary(int op, long x) => (UnaryOp)op switch
    {
        UnaryOp.Abs => x < 0 ? -x : x,
        UnaryOp.Negative => -x,
        UnaryOp.Square => x * x,
        UnaryOp.Sign => x == 0 ? 0 : (x < 0 ? -1 : 1),
        UnaryOp.BitwiseInvert => ~x,
        _ => x,
    };

    public static long Binary(int op, long a, long b, int bits)
    {
        switch ((BinaryOp)op)
        {
            case BinaryOp.Add: return a + b;
            case BinaryOp.Subtract: return a - b;
            case BinaryOp.Multiply: return a * b;
            case BinaryOp.FloorDivide:
                {
                    if (b == 0)
                    {
                        return 0;
                    }
                    if (b == -1)
                    {
                        return -a;
                    }
                    long q = a / b;
                    return (a % b != 0) && ((a < 0) != (b < 0)) ? q - 1 : q;
                }
            case BinaryOp.Remainder:
                {
                    if (b == 0 || b == -1)
                    {
                        return 0;
                    }
                    long r = a % b;
                    return r != 0 && (r < 0) != (b < 0) ? r + b : r;
                }
            case BinaryOp.Power:
                {
                    if (b < 0)
                    {
                        return a == 1 ? 1 : (a == -1 ? ((b & 1) == 0 ? 1 : a) : 0);
                    }
                    // Products wrap alike in two's complement: the unsigned loop gives the signed bits.
                    return (long)UnsignedMath.Power((ulong)a, (ulong)b);
                }
            case BinaryOp.Maximum: return a > b ? a : b;
            case BinaryOp.Minimum: return a < b ? a : b;
            case BinaryOp.BitwiseAnd: return a & b;
            case BinaryOp.BitwiseOr: return a | b;
            case BinaryOp.BitwiseXor: return a ^ b;
            case BinaryOp.LeftShift: return b < 0 || b >= bits ? 0 : a << (int)b;
            case BinaryOp.RightShift: return b < 0 || b >= bits ? (a < 0 ? -1 : 0) : a >> (int)b;
            default: return 0;
        }
    }

    public static bool Compare(int op, long a, long b) => (BinaryOp)op switch
    {
        BinaryOp.NotEqual => a != b,
        BinaryOp.Less => a < b,
        BinaryOp.LessEqual => a <= b,
        BinaryOp.Greater => a > b,
        BinaryOp.GreaterEqual => a >= b,
        _ => a == b,
    };
}

/// <summary>Unsigned integer math of width <c>bits</c> computed in 64 bits.</summary>
internal static class UnsignedMath
{
    public static ulong Unary(int op, ulong x) => (UnaryOp)op switch
    {
        UnaryOp.Negative => 0 - x,
        UnaryOp.Square => x * x,
        UnaryOp.Sign => x == 0 ? 0UL : 1UL,
        UnaryOp.BitwiseInvert => ~x,
        _ => x,
    };

    public static ulong Binary(int op, ulong a, ulong b, int bits)
    {
        switch ((BinaryOp)op)
        {
            case BinaryOp.Add: return a + b;
            case BinaryOp.Subtract: return a - b;
            case BinaryOp.Multiply: return a * b;
            case BinaryOp.FloorDivide: return b == 0 ? 0 : a / b;
            case BinaryOp.Remainder: return b == 0 ? 0 : a % b;
            case BinaryOp.Power: return Power(a, b);
            case BinaryOp.Maximum: return a > b ? a : b;
            case BinaryOp.Minimum: return a < b ? a : b;
            case BinaryOp.BitwiseAnd: return a & b;
            case BinaryOp.BitwiseOr: return a | b;
            case BinaryOp.BitwiseXor: return a ^ b;
            case BinaryOp.LeftShift: return b >= (ulong)bits ? 0 : a << (int)b;
            case BinaryOp.RightShift: return b >= (ulong)bits ? 0 : a >> (int)b;
            default: return 0;
        }
    }

    /// <summary>a^b by squaring, wrapping on overflow.</summary>
    public static ulong Power(ulong a, ulong b)
    {
        ulong result = 1;
        while (b > 0)
        {
            if ((b & 1) != 0)
            {
                result *= a;
            }
            a *= a;
            b >>= 1;
        }
        return result;
    }

    public static bool Compare(int op, ulong a, ulong b) => (BinaryOp)op switch
    {
        BinaryOp.NotEqual => a != b,
        BinaryOp.Less => a < b,
        BinaryOp.LessEqual => a <= b,
        BinaryOp.Greater => a > b,
        BinaryOp.GreaterEqual => a >= b,
        _ => a == b,
    };
}

public struct F32Ops : IGpuOps<float>
{
    public float Unary(int op, float x) => FloatMath.Unary(op, x);
    public float Binary(int op, float a, float b) => FloatMath.Binary(op, a, b);
    public bool Compare(int op, float a, float b) => DoubleMath.Compare(op, a, b);
    public bool Classify(int op, float x) => DoubleMath.Classify(op, x);
}

public struct F64Ops : IGpuOps<double>
{
    public double Unary(int op, double x) => DoubleMath.Unary(op, x);
    public double Binary(int op, double a, double b) => DoubleMath.Binary(op, a, b);
    public bool Compare(int op, double a, double b) => DoubleMath.Compare(op, a, b);
    public bool Classify(int op, double x) => DoubleMath.Classify(op, x);
}

public struct I32Ops : IGpuOps<int>
{
    public int Unary(int op, int x) => (int)SignedMath.Unary(op, x);
    public int Binary(int op, int a, int b) => (int)SignedMath.Binary(op, a, b, 32);
    public bool Compare(int op, int a, int b) => SignedMath.Compare(op, a, b);
    public bool Classify(int op, int x) => false;
}

public struct I64Ops : IGpuOps<long>
{
    public long Unary(int op, long x) => SignedMath.Unary(op, x);
    public long Binary(int op, long a, long b) => SignedMath.Binary(op, a, b, 64);
    public bool Compare(int op, long a, long b) => SignedMath.Compare(op, a, b);
    public bool Classify(int op, long x) => false;
}

public struct U32Ops : IGpuOps<uint>
{
    public uint Unary(int op, uint x) => (uint)UnsignedMath.Unary(op, x);
    public uint Binary(int op, uint a, uint b) => (uint)UnsignedMath.Binary(op, a, b, 32);
    public bool Compare(int op, uint a, uint b) => UnsignedMath.Compare(op, a, b);
    public bool Classify(int op, uint x) => false;
}

public struct U64Ops : IGpuOps<ulong>
{
    public ulong Unary(int op, ulong x) => UnsignedMath.Unary(op, x);
    public ulong Binary(int op, ulong a, ulong b) => UnsignedMath.Binary(op, a, b, 64);
    public bool Compare(int op, ulong a, ulong b) => UnsignedMath.Compare(op, a, b);
    public bool Classify(int op, ulong x) => false;
}

/// <summary>
/// float32 exp and log with correctly rounded arithmetic only (about 1 ulp), and round-half-to-even. ILGPU 1.5.3 lowers
/// XMath's float32 exp and log to PTX's ex2.approx/lg2.approx (exp loses ~|x| ulps in the argument scaling, log has
/// absolute, not relative, error near 1) and its RoundToEven rounds 1.5 to 1; these stay exact on every backend.
/// </summary>
internal static class Exact32
{
    private const float Ln2Hi = 0.693145751953125f;       // ln 2 in 16 bits: k * Ln2Hi is exact for |k| < 2^8
    private const float Ln2Lo = 1.42860677e-06f;          // ln 2 - Ln2Hi
    private const float Log2E = 1.44269504f;

    public static float Exp(float x)
    {
        if (!(x < 88.7228394f))
        {
            return x > 0 ? float.PositiveInfinity : x; // +inf for overflow and +inf, NaN stays NaN
        }
        if (x < -103.972084f)
        {
            return 0f;
        }
        // x = k ln2 + r with |r| <= ln2 / 2; e^r by its Taylor series to r^7 (error < 2^-26 on that range).
        float k = XMath.Floor(x * Log2E + 0.5f);
        float r = x - k * Ln2Hi - k * Ln2Lo;
        float p = 1f / 5040f;
        p = p * r + 1f / 720f;
        p = p * r + 1f / 120f;
        p = p * r + 1f / 24f;
        p = p * r + 1f / 6f;
        p = p * r + 0.5f;
        p = p * r + 1f;
        p = p * r + 1f;
        // 2^k in two factors, so that results near the float range's ends (k from -150 to 128) neither over- nor underflow early.
        int ki = (int)k;
        int half = ki / 2;
        return p * Pow2(half) * Pow2(ki - half);
    }

    /// <summary>2^k for k in [-126, 127] from its bits.</summary>
    private static float Pow2(int k) => Interop.IntAsFloat((uint)(k + 127) << 23);

    // e ln b + (ln m) log_b e, summed in double and rounded once: log2(8) = 3 and log10(1000) = 3 exactly.
    public static float Log(float x)
    {
        float logm = LogMantissa(x, out int e, out float special);
        return special == 0 ? (float)(e * 0.69314718055994531 + logm) : special;
    }

    public static float Log2(float x)
    {
        float logm = LogMantissa(x, out int e, out float special);
        return special == 0 ? (float)(e + logm * 1.4426950408889634) : special;
    }

    public static float Log10(float x)
    {
        float logm = LogMantissa(x, out int e, out float special);
        return special == 0 ? (float)(e * 0.30102999566398120 + logm * 0.43429448190325182) : special;
    }

    /// <summary>
    /// Splits x = m 2^e with m in [sqrt(1/2), sqrt(2)) and returns ln m by the series in s = (m - 1) / (m + 1);
    /// <paramref name="special"/> is nonzero (the answer itself) for zero, negative, infinite and NaN inputs.
    /// </summary>
    private static float LogMantissa(float x, out int e, out float special)
    {
        e = 0;
        special = 0;
        if (!(x > 0) || XMath.IsInfinity(x))
        {
            special = x == 0 ? float.NegativeInfinity : (x > 0 ? x : float.NaN);
            return 0;
        }
        uint bits = Interop.FloatAsInt(x);
        if (bits < 0x00800000u)
        {
            bits = Interop.FloatAsInt(x * 33554432f); // subnormal: scale by 2^25 first
            e = -25;
        }
        // Shift the exponent so that mantissas from sqrt(1/2) up land in [sqrt(1/2), sqrt(2)).
        bits += 0x3F800000u - 0x3F3504F3u;
        e += (int)(bits >> 23) - 127;
        float m = Interop.IntAsFloat((bits & 0x007FFFFFu) + 0x3F3504F3u);
        float f = m - 1f;
        float s = f / (2f + f);
        float z = s * s, w = z * z;
        // ln m = f - f^2/2 + s (f^2/2 + R(z)), R a minimax fit of the series in z (error below 2^-34 on the range).
        float r = z * (0.666666627f + w * 0.284987867f) + w * (0.400009722f + w * 0.242790788f);
        float hfsq = 0.5f * f * f;
        return s * (hfsq + r) - hfsq + f;
    }

    /// <summary>Round half to even, as MLX and NumPy round (and as PTX's cvt.rni would).</summary>
    public static float RoundHalfEven(float x)
    {
        float f = XMath.Floor(x);
        float d = x - f; // exact: x and f share their exponent's range
        float r = d > 0.5f || (d == 0.5f && f - 2f * XMath.Floor(f * 0.5f) != 0f) ? f + 1f : f;
        return r == 0f ? x * 0f : r; // keeps the sign of zero (round(-0.4) = -0); NaN and infinities pass through
    }

    public static double RoundHalfEven(double x)
    {
        double f = XMath.Floor(x);
        double d = x - f;
        double r = d > 0.5 || (d == 0.5 && f - 2.0 * XMath.Floor(f * 0.5) != 0.0) ? f + 1.0 : f;
        return r == 0.0 ? x * 0.0 : r;
    }
}
