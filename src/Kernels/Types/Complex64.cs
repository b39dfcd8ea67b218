using System.Globalization;

namespace Mlx;

/// <summary>A complex number of two float32 parts, MLX's complex64.</summary>
public readonly struct Complex64 : IEquatable<Complex64>, System.Numerics.IEqualityOperators<Complex64, Complex64, bool>
{
    public readonly float Real;
    public readonly float Imag;

    public Complex64(float real, float imag)
    {
        Real = real;
        Imag = imag;
    }

    public static implicit operator Complex64(float real) => new(real, 0f);

    public static Complex64 operator +(Complex64 a, Complex64 b) => new(a.Real + b.Real, a.Imag + b.Imag);

    public static Complex64 operator -(Complex64 a, Complex64 b) => new(a.Real - b.Real, a.Imag - b.Imag);

    public static Complex64 operator -(Complex64 a) => new(-a.Real, -a.Imag);

    public static Complex64 operator *(Complex64 a, Complex64 b) =>
        new(a.Real * b.Real - a.Imag * b.Imag, a.Real * b.Imag + a.Imag * b.Real);

    public static Complex64 operator /(Complex64 a, Complex64 b)
    {
        var q = new System.Numerics.Complex(a.Real, a.Imag) / new System.Numerics.Complex(b.Real, b.Imag);
        return new((float)q.Real, (float)q.Imaginary);
    }

    public float Magnitude => (float)System.Numerics.Complex.Abs(new(Real, Imag));

    public bool Equals(Complex64 other) => Real == other.Real && Imag == other.Imag;

    public override bool Equals(object? obj) => obj is Complex64 other && Equals(other);

    public override int GetHashCode() => HashCode.Combine(Real, Imag);

    public static bool operator ==(Complex64 a, Complex64 b) => a.Equals(b);

    public static bool operator !=(Complex64 a, Complex64 b) => !a.Equals(b);

    public override string ToString()
    {
        string sign = Imag < 0 || float.IsNegative(Imag) ? "-" : "+";
        return string.Create(CultureInfo.InvariantCulture, $"{Real}{sign}{MathF.Abs(Imag)}j");
    }
}
