namespace Mlx.Formats.Internal;

/// <summary>Overflow-proof size arithmetic: every product and sum of untrusted numbers goes through here.</summary>
internal static class Checked
{
    /// <summary>a * b for non-negative values, or false when the result does not fit in a long.</summary>
    public static bool TryMultiply(long a, long b, out long result)
    {
        ulong high = Math.BigMul((ulong)a, (ulong)b, out ulong low);
        if (a < 0 || b < 0 || high != 0 || low > long.MaxValue)
        {
            result = 0;
            return false;
        }
        result = (long)low;
        return true;
    }

    /// <summary>a + b for non-negative values, or false on overflow.</summary>
    public static bool TryAdd(long a, long b, out long result)
    {
        if (a < 0 || b < 0 || a > long.MaxValue - b)
        {
            result = 0;
            return false;
        }
        result = a + b;
        return true;
    }

    /// <summary>Product of dimensions, or false when any is negative or the product overflows.</summary>
    public static bool TryElementCount(ReadOnlySpan<long> shape, out long count)
    {
        count = 1;
        foreach (long d in shape)
        {
            if (d < 0 || !TryMultiply(count, d, out count))
            {
                count = 0;
                return false;
            }
        }
        return true;
    }

    /// <summary>Rounds up to a multiple of a power-of-two alignment, or false on overflow.</summary>
    public static bool TryPad(long value, long alignment, out long padded)
    {
        if (!TryAdd(value, alignment - 1, out long sum))
        {
            padded = 0;
            return false;
        }
        padded = sum & ~(alignment - 1);
        return true;
    }
}
