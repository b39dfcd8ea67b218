using System.Globalization;

namespace Mlx;

/// <summary>
/// Brain float: the upper 16 bits of an IEEE float32. Conversion from float rounds to nearest even and maps every
/// NaN to the quiet NaN 0x7FC0, as MLX does.
/// </summary>
public readonly struct BFloat16 : IEquatable<BFloat16>, IComparable<BFloat16>
{
    public readonly ushort Bits;

    private BFloat16(ushort bits) => Bits = bits;

    public static BFloat16 FromBits(ushort bits) => new(bits);

    public static explicit operator BFloat16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if ((bits & 0x7FFF_FFFFu) > 0x7F80_0000u)
        {
            return new BFloat16(0x7FC0);
        }
        bits += ((bits >> 16) & 1u) + 0x7FFFu;
        return new BFloat16((ushort)(bits >> 16));
    }

    public static explicit operator BFloat16(double value) => (BFloat16)(float)value;

    public static implicit operator float(BFloat16 value) => BitConverter.UInt32BitsToSingle((uint)value.Bits << 16);

    public static explicit operator double(BFloat16 value) => (float)value;

    public bool Equals(BFloat16 other) => (float)this == (float)other;

    public override bool Equals(object? obj) => obj is BFloat16 other && Equals(other);

    public override int GetHashCode() => ((float)this).GetHashCode();

    public int CompareTo(BFloat16 other) => ((float)this).CompareTo((float)other);

    public static bool operator ==(BFloat16 a, BFloat16 b) => a.Equals(b);

    public static bool operator !=(BFloat16 a, BFloat16 b) => !a.Equals(b);

    public override string ToString() => ((float)this).ToString(CultureInfo.InvariantCulture);
}
