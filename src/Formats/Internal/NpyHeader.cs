using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace Mlx.Formats.Internal;

/// <summary>A parsed, validated .npy header.</summary>
internal sealed record NpyHeader(TensorDType DType, string Descr, long[] Shape, long ElementCount, long ByteLength,
    bool FortranOrder, bool BigEndian, long DataOffset, int Major);

/// <summary>
/// Reads the .npy preamble and header dictionary with our own parser of the Python-literal subset
/// NumPy writes (dict, str, bool, int, tuple, list). Nothing is ever evaluated.
/// </summary>
internal static class NpyHeaderParser
{
    public static ReadOnlySpan<byte> Magic => [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    private const int MaxNesting = 8;

    /// <summary>Bytes of the file to hand to <see cref="Parse"/>: enough for the largest allowed header.</summary>
    public static int PrefixLength(LoadLimits limits) => 12 + Math.Max(0, limits.MaxNpyHeaderBytes);

    /// <summary>
    /// Parses the header from <paramref name="prefix"/> (the first bytes of the array, possibly all of them),
    /// given the array's total length. <paramref name="baseOffset"/> is added to offsets in messages.
    /// </summary>
    public static NpyHeader Parse(ReadOnlySpan<byte> prefix, long totalLength, LoadLimits limits, ModelFileFormat format, long baseOffset)
    {
        ModelFormatException Fail(string reason, long at) => new(format, reason, baseOffset + at);

        if (prefix.Length < 10 || !prefix[..6].SequenceEqual(Magic))
        {
            throw Fail("not a .npy array: the magic \\x93NUMPY is missing", 0);
        }
        int major = prefix[6];
        int minor = prefix[7];
        long headerLength;
        int preamble;
        if (major == 1 && minor == 0)
        {
            headerLength = BinaryPrimitives.ReadUInt16LittleEndian(prefix[8..]);
            preamble = 10;
        }
        else if ((major == 2 || major == 3) && minor == 0)
        {
            if (prefix.Length < 12)
            {
                throw Fail("file ended inside the .npy preamble", prefix.Length);
            }
            headerLength = BinaryPrimitives.ReadUInt32LittleEndian(prefix[8..]);
            preamble = 12;
        }
        else
        {
            throw Fail($"unsupported .npy version {major}.{minor} (1.0, 2.0 and 3.0 are read)", 6);
        }
        if (headerLength > limits.MaxNpyHeaderBytes)
        {
            throw Fail($"header length {headerLength} is over the limit of {limits.MaxNpyHeaderBytes} bytes (LoadLimits.MaxNpyHeaderBytes)", 8);
        }
        if (preamble + headerLength > totalLength)
        {
            throw Fail($"header length {headerLength} runs past the end of the data ({totalLength} bytes)", 8);
        }
        if (preamble + headerLength > prefix.Length)
        {
            throw Fail("file ended inside the .npy header", prefix.Length);
        }
        ReadOnlySpan<byte> text = prefix.Slice(preamble, (int)headerLength);
        var parser = new LiteralParser(text, major == 3, format, baseOffset + preamble);
        object value = parser.ParseDocument();
        if (value is not Dictionary<string, object> dict)
        {
            throw Fail("the header is not a dictionary", preamble);
        }
        if (dict.Count != 3 || !dict.ContainsKey("descr") || !dict.ContainsKey("fortran_order") || !dict.ContainsKey("shape"))
        {
            throw Fail("the header must have exactly the keys 'descr', 'fortran_order' and 'shape'", preamble);
        }
        (TensorDType dtype, bool bigEndian, string descr) = ParseDescr(dict["descr"], format, baseOffset + preamble);
        if (dict["fortran_order"] is not bool fortran)
        {
            throw Fail("'fortran_order' must be True or False", preamble);
        }
        if (dict["shape"] is not List<object> { } shapeItems || !parser.IsTuple(shapeItems))
        {
            throw Fail("'shape' must be a tuple of integers", preamble);
        }
        if (shapeItems.Count > limits.MaxRank)
        {
            throw Fail($"rank {shapeItems.Count} is over the limit of {limits.MaxRank} (LoadLimits.MaxRank)", preamble);
        }
        var shape = new long[shapeItems.Count];
        for (int i = 0; i < shape.Length; i++)
        {
            if (shapeItems[i] is not long d || d < 0)
            {
                throw Fail("'shape' must hold non-negative integers", preamble);
            }
            shape[i] = d;
        }
        if (!Checked.TryElementCount(shape, out long count) || !Checked.TryMultiply(count, dtype.ItemSize(), out long bytes))
        {
            throw Fail($"shape ({string.Join(", ", shape)}) overflows a 64-bit byte count", preamble);
        }
        long dataOffset = preamble + headerLength;
        long available = totalLength - dataOffset;
        if (bytes > available)
        {
            throw Fail($"shape ({string.Join(", ", shape)}) of {descr} needs {bytes} bytes but only {available} follow the header", dataOffset);
        }
        if (bytes < available)
        {
            throw Fail($"{available - bytes} trailing bytes after the array data", dataOffset + bytes);
        }
        return new NpyHeader(dtype, descr, shape, count, bytes, fortran, bigEndian, dataOffset, major);
    }

    private static (TensorDType, bool, string) ParseDescr(object descr, ModelFileFormat format, long at)
    {
        if (descr is List<object> fields)
        {
            if (ContainsObjectType(fields, 0))
            {
                throw new ModelFormatException(format, "object dtype: " + Messages.Pickle, at);
            }
            throw new ModelFormatException(format, "structured (record) dtypes are not supported", at);
        }
        if (descr is not string s)
        {
            throw new ModelFormatException(format, "'descr' must be a string", at);
        }
        if (s.Contains('O'))
        {
            throw new ModelFormatException(format, $"object dtype '{s}': " + Messages.Pickle, at);
        }
        char order = s.Length > 0 ? s[0] : '\0';
        string code = order is '<' or '>' or '|' or '=' ? s[1..] : s;
        bool big = order == '>';
        TensorDType? dtype = code switch
        {
            "b1" or "?" => TensorDType.Bool,
            "u1" => TensorDType.UInt8,
            "u2" => TensorDType.UInt16,
            "u4" => TensorDType.UInt32,
            "u8" => TensorDType.UInt64,
            "i1" => TensorDType.Int8,
            "i2" => TensorDType.Int16,
            "i4" => TensorDType.Int32,
            "i8" => TensorDType.Int64,
            "f2" => TensorDType.Float16,
            "f4" => TensorDType.Float32,
            "f8" => TensorDType.Float64,
            "c8" => TensorDType.Complex64,
            // MLX writes bfloat16 as a 2-byte void; raw bytes have no byte order to swap.
            "V2" when order is '<' or '|' => TensorDType.BFloat16,
            _ => null,
        };
        if (dtype is null)
        {
            throw new ModelFormatException(format, $"unsupported dtype '{s}'", at);
        }
        return (dtype.Value, big && dtype.Value.ItemSize() > 1, s);
    }

    private static bool ContainsObjectType(List<object> items, int depth)
    {
        foreach (object item in items)
        {
            if (item is List<object> inner && inner.Count >= 2)
            {
                if (inner[1] is string t && t.Contains('O'))
                {
                    return true;
                }
                if (inner[1] is List<object> nested && depth < MaxNesting && ContainsObjectType(nested, depth + 1))
                {
                    return true;
                }
            }
        }
        return false;
    }

    /// <summary>Recursive-descent parser for dict/list/tuple/str/int/bool literals.</summary>
    private ref struct LiteralParser
    {
        private readonly ReadOnlySpan<byte> _text;
        private readonly bool _utf8;
        private readonly ModelFileFormat _format;
        private readonly long _base;
        private readonly HashSet<List<object>> _tuples;
        private int _pos;

        public LiteralParser(ReadOnlySpan<byte> text, bool utf8, ModelFileFormat format, long baseOffset)
        {
            _text = text;
            _utf8 = utf8;
            _format = format;
            _base = baseOffset;
            _tuples = new HashSet<List<object>>(ReferenceEqualityComparer.Instance);
            _pos = 0;
        }

        public readonly bool IsTuple(List<object> list) => _tuples.Contains(list);

        public object ParseDocument()
        {
            object value = ParseValue(0);
            SkipSpace();
            if (_pos != _text.Length)
            {
                throw Fail("unexpected text after the header dictionary");
            }
            return value;
        }

        private readonly ModelFormatException Fail(string reason) => new(_format, "bad .npy header: " + reason, _base + _pos);

        private void SkipSpace()
        {
            while (_pos < _text.Length && _text[_pos] is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\r')
            {
                _pos++;
            }
        }

        private object ParseValue(int depth)
        {
            if (depth > MaxNesting)
            {
                throw Fail("nested too deeply");
            }
            SkipSpace();
            if (_pos >= _text.Length)
            {
                throw Fail("unexpected end");
            }
            byte c = _text[_pos];
            switch (c)
            {
                case (byte)'{':
                    return ParseDict(depth);
                case (byte)'(':
                    return ParseSequence(depth, (byte)')', tuple: true);
                case (byte)'[':
                    return ParseSequence(depth, (byte)']', tuple: false);
                case (byte)'\'' or (byte)'"':
                    return ParseString();
                case (byte)'u' or (byte)'b' when _pos + 1 < _text.Length && _text[_pos + 1] is (byte)'\'' or (byte)'"':
                    _pos++;
                    return ParseString();
                case (byte)'-' or (>= (byte)'0' and <= (byte)'9'):
                    return ParseInt();
                default:
                    if (TryWord("True"u8))
                    {
                        return true;
                    }
                    if (TryWord("False"u8))
                    {
                        return false;
                    }
                    throw Fail($"unexpected character '{(char)c}' (only dict, str, int, bool and tuple literals are allowed)");
            }
        }

        private bool TryWord(ReadOnlySpan<byte> word)
        {
            if (_text[_pos..].StartsWith(word))
            {
                int end = _pos + word.Length;
                if (end == _text.Length || !(char.IsAsciiLetterOrDigit((char)_text[end]) || _text[end] == (byte)'_'))
                {
                    _pos = end;
                    return true;
                }
            }
            return false;
        }

        private Dictionary<string, object> ParseDict(int depth)
        {
            _pos++;
            var dict = new Dictionary<string, object>(StringComparer.Ordinal);
            while (true)
            {
                SkipSpace();
                if (_pos < _text.Length && _text[_pos] == (byte)'}')
                {
                    _pos++;
                    return dict;
                }
                int keyAt = _pos;
                if (ParseValue(depth + 1) is not string key)
                {
                    throw Fail("dictionary keys must be strings");
                }
                if (!dict.TryAdd(key, null!))
                {
                    _pos = keyAt;
                    throw Fail($"duplicate key '{key}'");
                }
                SkipSpace();
                Expect((byte)':');
                dict[key] = ParseValue(depth + 1);
                SkipSpace();
                if (_pos < _text.Length && _text[_pos] == (byte)',')
                {
                    _pos++;
                    continue;
                }
                SkipSpace();
                Expect((byte)'}');
                return dict;
            }
        }

        private List<object> ParseSequence(int depth, byte close, bool tuple)
        {
            _pos++;
            var items = new List<object>();
            if (tuple)
            {
                _tuples.Add(items);
            }
            while (true)
            {
                SkipSpace();
                if (_pos < _text.Length && _text[_pos] == close)
                {
                    _pos++;
                    return items;
                }
                items.Add(ParseValue(depth + 1));
                SkipSpace();
                if (_pos < _text.Length && _text[_pos] == (byte)',')
                {
                    _pos++;
                    continue;
                }
                Expect(close);
                // Python needs a trailing comma for a 1-tuple; "(6)" is just the int 6.
                if (tuple && items.Count == 1)
                {
                    _tuples.Remove(items);
                }
                return items;
            }
        }

        private void Expect(byte c)
        {
            if (_pos >= _text.Length || _text[_pos] != c)
            {
                throw Fail($"expected '{(char)c}'");
            }
            _pos++;
        }

        private string ParseString()
        {
            byte quote = _text[_pos++];
            var bytes = new List<byte>();
            while (true)
            {
                if (_pos >= _text.Length)
                {
                    throw Fail("unterminated string");
                }
                byte c = _text[_pos++];
                if (c == quote)
                {
                    break;
                }
                if (c is (byte)'\n' or (byte)'\r')
                {
                    throw Fail("newline inside a string");
                }
                if (c == (byte)'\\')
                {
                    if (_pos >= _text.Length || _text[_pos] is not ((byte)'\\' or (byte)'\'' or (byte)'"'))
                    {
                        throw Fail("unsupported escape in a string");
                    }
                    c = _text[_pos++];
                }
                bytes.Add(c);
            }
            byte[] raw = bytes.ToArray();
            try
            {
                return _utf8 ? FileCursor.Strict.GetString(raw) : Encoding.Latin1.GetString(raw);
            }
            catch (DecoderFallbackException)
            {
                throw Fail("string is not valid UTF-8");
            }
        }

        private long ParseInt()
        {
            int start = _pos;
            if (_text[_pos] == (byte)'-')
            {
                _pos++;
            }
            while (_pos < _text.Length && char.IsAsciiDigit((char)_text[_pos]))
            {
                _pos++;
            }
            ReadOnlySpan<byte> digits = _text[start.._pos];
            // Python 2 wrote longs with an L suffix; NumPy still accepts it.
            if (_pos < _text.Length && _text[_pos] is (byte)'L')
            {
                _pos++;
            }
            if (!long.TryParse(Encoding.ASCII.GetString(digits), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long value))
            {
                _pos = start;
                throw Fail("integer is malformed or does not fit in 64 bits");
            }
            return value;
        }
    }
}
