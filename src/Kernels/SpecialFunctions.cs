using System.Numerics;

namespace Mlx.Kernels;

/// <summary>Error function and its inverse for float and double.</summary>
public static class SpecialFunctions
{
    public static T Erf<T>(T x) where T : IFloatingPointIeee754<T> => T.CreateTruncating(Erf(double.CreateTruncating(x)));

    public static T Erfinv<T>(T x) where T : IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float))
        {
            return T.CreateTruncating(ErfinvSingle(float.CreateTruncating(x)));
        }
        return T.CreateTruncating(Erfinv(double.CreateTruncating(x)));
    }

    /// <summary>erf with relative error below 1e-15 (series near 0, continued fraction via erfc elsewhere).</summary>
    public static double Erf(double x)
    {
        if (double.IsNaN(x))
        {
            return x;
        }
        double ax = Math.Abs(x);
        if (ax < 2.0)
        {
            // Maclaurin series: converges well for |x| < 2.
            double sum = x, term = x, x2 = x * x;
            for (int n = 1; n < 60; n++)
            {
                term *= -x2 / n;
                double add = term / (2 * n + 1);
                sum += add;
                if (Math.Abs(add) < 1e-17 * Math.Abs(sum))
                {
                    break;
                }
            }
            return 2.0 / Math.Sqrt(Math.PI) * sum;
        }
        if (ax > 6.0)
        {
            return Math.Sign(x);
        }
        // erfc by Lentz's continued fraction.
        double tiny = 1e-300, f = ax, c = ax, d = 0;
        for (int n = 1; n < 200; n++)
        {
            double an = n / 2.0;
            d = ax + an * d;
            d = Math.Abs(d) < tiny ? tiny : d;
            c = ax + an / c;
            c = Math.Abs(c) < tiny ? tiny : c;
            d = 1 / d;
            double delta = c * d;
            f *= delta;
            if (Math.Abs(delta - 1) < 1e-16)
            {
                break;
            }
        }
        double erfc = Math.Exp(-ax * ax) / Math.Sqrt(Math.PI) / f;
        return Math.Sign(x) * (1 - erfc);
    }

    /// <summary>Inverse error function in double: an initial guess refined by Newton steps on erf.</summary>
    public static double Erfinv(double y)
    {
        if (double.IsNaN(y) || y < -1 || y > 1)
        {
            return double.NaN;
        }
        if (y == 1)
        {
            return double.PositiveInfinity;
        }
        if (y == -1)
        {
            return double.NegativeInfinity;
        }
        double x = ErfinvSingle((float)y);
        for (int i = 0; i < 3; i++)
        {
            double err = Erf(x) - y;
            x -= err / (2.0 / Math.Sqrt(Math.PI) * Math.Exp(-x * x));
        }
        return x;
    }

    /// <summary>
    /// Single-precision erfinv: M. Giles' polynomial approximation ("Approximating the erfinv function", 2010), the
    /// same one MLX uses, evaluated with fused multiply-adds.
    /// </summary>
    public static float ErfinvSingle(float a)
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
}
