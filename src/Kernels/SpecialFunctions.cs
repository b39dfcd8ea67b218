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

    /// <summary>Single-precision erfinv, the same polynomial and rounding as MLX's CPU backend (see <see cref="Random.Threefry.ErfInv(float)"/>).</summary>
    public static float ErfinvSingle(float a) => Random.Threefry.ErfInv(a);
}
