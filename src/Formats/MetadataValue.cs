using System.Globalization;

namespace Mlx.Formats;

/// <summary>Kind of a <see cref="MetadataValue"/> (GGUF's value types; safetensors metadata is all strings).</summary>
public enum MetadataKind
{
    /// <summary>UTF-8 string.</summary>
    String,

    /// <summary>Boolean.</summary>
    Bool,

    /// <summary>Unsigned 8-bit integer.</summary>
    UInt8,

    /// <summary>Signed 8-bit integer.</summary>
    Int8,

    /// <summary>Unsigned 16-bit integer.</summary>
    UInt16,

    /// <summary>Signed 16-bit integer.</summary>
    Int16,

    /// <summary>Unsigned 32-bit integer.</summary>
    UInt32,

    /// <summary>Signed 32-bit integer.</summary>
    Int32,

    /// <summary>Unsigned 64-bit integer.</summary>
    UInt64,

    /// <summary>Signed 64-bit integer.</summary>
    Int64,

    /// <summary>32-bit float.</summary>
    Float32,

    /// <summary>64-bit float.</summary>
    Float64,

    /// <summary>An array of scalars, all of <see cref="MetadataValue.ElementKind"/>.</summary>
    Array,
}

/// <summary>
/// An inert metadata value: a scalar or a flat array of scalars. It never names a type or holds code;
/// arrays are stored as typed primitive arrays (no per-element objects).
/// </summary>
public sealed class MetadataValue
{
    private readonly string? _string;
    private readonly ulong _bits;
    private readonly double _float;
    private readonly Array? _items;

    private MetadataValue(MetadataKind kind, MetadataKind elementKind, string? s, ulong bits, double f, Array? items)
    {
        Kind = kind;
        ElementKind = elementKind;
        _string = s;
        _bits = bits;
        _float = f;
        _items = items;
    }

    /// <summary>Kind of this value.</summary>
    public MetadataKind Kind { get; }

    /// <summary>For arrays, the kind of every element; otherwise equal to <see cref="Kind"/>.</summary>
    public MetadataKind ElementKind { get; }

    /// <summary>Number of elements of an array (1 for a scalar).</summary>
    public int Count => _items?.Length ?? 1;

    /// <summary>A string value.</summary>
    public static MetadataValue FromString(string value) =>
        new(MetadataKind.String, MetadataKind.String, value ?? throw new ArgumentNullException(nameof(value)), 0, 0, null);

    /// <summary>A boolean value.</summary>
    public static MetadataValue FromBool(bool value) => new(MetadataKind.Bool, MetadataKind.Bool, null, value ? 1UL : 0UL, 0, null);

    /// <summary>A signed integer value of the given kind (Int8, Int16, Int32, Int64); the value must fit.</summary>
    public static MetadataValue FromInt(MetadataKind kind, long value)
    {
        if (!IsSigned(kind) || !FitsSigned(kind, value))
        {
            throw new ArgumentOutOfRangeException(nameof(value), $"{value} does not fit {kind}");
        }
        return new MetadataValue(kind, kind, null, unchecked((ulong)value), 0, null);
    }

    /// <summary>An unsigned integer value of the given kind (UInt8, UInt16, UInt32, UInt64); the value must fit.</summary>
    public static MetadataValue FromUInt(MetadataKind kind, ulong value)
    {
        if (!IsUnsigned(kind) || value > UnsignedMax(kind))
        {
            throw new ArgumentOutOfRangeException(nameof(value), $"{value} does not fit {kind}");
        }
        return new MetadataValue(kind, kind, null, value, 0, null);
    }

    /// <summary>A floating value of kind Float32 or Float64.</summary>
    public static MetadataValue FromFloat(MetadataKind kind, double value)
    {
        if (kind is not (MetadataKind.Float32 or MetadataKind.Float64))
        {
            throw new ArgumentOutOfRangeException(nameof(kind));
        }
        return new MetadataValue(kind, kind, null, 0, kind == MetadataKind.Float32 ? (float)value : value, null);
    }

    /// <summary>An array of strings.</summary>
    public static MetadataValue FromStrings(string[] values) => Arr(MetadataKind.String, values);

    /// <summary>An array of booleans.</summary>
    public static MetadataValue FromBools(bool[] values) => Arr(MetadataKind.Bool, values);

    /// <summary>An array of signed integers of the given element kind; every value must fit.</summary>
    public static MetadataValue FromInts(MetadataKind elementKind, long[] values)
    {
        if (!IsSigned(elementKind) || Array.Exists(values, v => !FitsSigned(elementKind, v)))
        {
            throw new ArgumentOutOfRangeException(nameof(values), $"values do not fit {elementKind}");
        }
        return Arr(elementKind, values);
    }

    /// <summary>An array of unsigned integers of the given element kind; every value must fit.</summary>
    public static MetadataValue FromUInts(MetadataKind elementKind, ulong[] values)
    {
        if (!IsUnsigned(elementKind) || Array.Exists(values, v => v > UnsignedMax(elementKind)))
        {
            throw new ArgumentOutOfRangeException(nameof(values), $"values do not fit {elementKind}");
        }
        return Arr(elementKind, values);
    }

    /// <summary>An array of floats of element kind Float32 or Float64.</summary>
    public static MetadataValue FromFloats(MetadataKind elementKind, double[] values)
    {
        if (elementKind is not (MetadataKind.Float32 or MetadataKind.Float64))
        {
            throw new ArgumentOutOfRangeException(nameof(elementKind));
        }
        return Arr(elementKind, values);
    }

    /// <summary>The string; throws InvalidOperationException for other kinds.</summary>
    public string AsString() => Kind == MetadataKind.String ? _string! : throw WrongKind("string");

    /// <summary>The boolean; throws InvalidOperationException for other kinds.</summary>
    public bool AsBool() => Kind == MetadataKind.Bool ? _bits != 0 : throw WrongKind("bool");

    /// <summary>A signed or unsigned integer as long; throws when not an integer or out of range.</summary>
    public long AsInt64()
    {
        if (IsSigned(Kind))
        {
            return unchecked((long)_bits);
        }
        if (IsUnsigned(Kind) && _bits <= long.MaxValue)
        {
            return (long)_bits;
        }
        throw WrongKind("int64");
    }

    /// <summary>A non-negative integer as ulong; throws when not an integer or negative.</summary>
    public ulong AsUInt64()
    {
        if (IsUnsigned(Kind) || (IsSigned(Kind) && unchecked((long)_bits) >= 0))
        {
            return _bits;
        }
        throw WrongKind("uint64");
    }

    /// <summary>Any number (float or integer) as double.</summary>
    public double AsDouble()
    {
        if (Kind is MetadataKind.Float32 or MetadataKind.Float64)
        {
            return _float;
        }
        if (IsSigned(Kind))
        {
            return unchecked((long)_bits);
        }
        if (IsUnsigned(Kind))
        {
            return _bits;
        }
        throw WrongKind("number");
    }

    /// <summary>Elements of a string array.</summary>
    public IReadOnlyList<string> AsStrings() => _items as string[] ?? throw WrongKind("string array");

    /// <summary>Elements of a bool array.</summary>
    public IReadOnlyList<bool> AsBools() => _items as bool[] ?? throw WrongKind("bool array");

    /// <summary>Elements of a signed integer array.</summary>
    public IReadOnlyList<long> AsInt64s() => _items as long[] ?? throw WrongKind("signed integer array");

    /// <summary>Elements of an unsigned integer array.</summary>
    public IReadOnlyList<ulong> AsUInt64s() => _items as ulong[] ?? throw WrongKind("unsigned integer array");

    /// <summary>Elements of a float array.</summary>
    public IReadOnlyList<double> AsDoubles() => _items as double[] ?? throw WrongKind("float array");

    /// <summary>Element <paramref name="index"/> of an array as a scalar value.</summary>
    public MetadataValue ElementAt(int index)
    {
        return _items switch
        {
            string[] s => FromString(s[index]),
            bool[] b => FromBool(b[index]),
            long[] l => new MetadataValue(ElementKind, ElementKind, null, unchecked((ulong)l[index]), 0, null),
            ulong[] u => new MetadataValue(ElementKind, ElementKind, null, u[index], 0, null),
            double[] d => new MetadataValue(ElementKind, ElementKind, null, 0, d[index], null),
            _ => throw WrongKind("array"),
        };
    }

    /// <summary>A short human-readable rendering (arrays abbreviated after <paramref name="maxItems"/> items).</summary>
    public string ToDisplayString(int maxItems = 8)
    {
        if (Kind != MetadataKind.Array)
        {
            return Kind switch
            {
                MetadataKind.String => _string!,
                MetadataKind.Bool => _bits != 0 ? "true" : "false",
                MetadataKind.Float32 or MetadataKind.Float64 => _float.ToString("R", CultureInfo.InvariantCulture),
                _ when IsSigned(Kind) => unchecked((long)_bits).ToString(CultureInfo.InvariantCulture),
                _ => _bits.ToString(CultureInfo.InvariantCulture),
            };
        }
        var parts = new List<string>();
        for (int i = 0; i < Math.Min(Count, maxItems); i++)
        {
            string item = ElementAt(i).ToDisplayString();
            parts.Add(ElementKind == MetadataKind.String ? "\"" + item + "\"" : item);
        }
        string more = Count > maxItems ? $", ... ({Count} items)" : "";
        return "[" + string.Join(", ", parts) + more + "]";
    }

    /// <inheritdoc/>
    public override string ToString() => ToDisplayString();

    internal static bool IsSigned(MetadataKind k) => k is MetadataKind.Int8 or MetadataKind.Int16 or MetadataKind.Int32 or MetadataKind.Int64;

    internal static bool IsUnsigned(MetadataKind k) => k is MetadataKind.UInt8 or MetadataKind.UInt16 or MetadataKind.UInt32 or MetadataKind.UInt64;

    private static bool FitsSigned(MetadataKind k, long v) => k switch
    {
        MetadataKind.Int8 => v is >= sbyte.MinValue and <= sbyte.MaxValue,
        MetadataKind.Int16 => v is >= short.MinValue and <= short.MaxValue,
        MetadataKind.Int32 => v is >= int.MinValue and <= int.MaxValue,
        _ => true,
    };

    private static ulong UnsignedMax(MetadataKind k) => k switch
    {
        MetadataKind.UInt8 => byte.MaxValue,
        MetadataKind.UInt16 => ushort.MaxValue,
        MetadataKind.UInt32 => uint.MaxValue,
        _ => ulong.MaxValue,
    };

    private static MetadataValue Arr(MetadataKind elementKind, Array values) =>
        new(MetadataKind.Array, elementKind, null, 0, 0, values ?? throw new ArgumentNullException(nameof(values)));

    private InvalidOperationException WrongKind(string wanted) =>
        new($"metadata value is {(Kind == MetadataKind.Array ? ElementKind + " array" : Kind.ToString())}, not {wanted}");
}
