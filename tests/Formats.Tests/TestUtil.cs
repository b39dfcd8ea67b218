using System.Buffers.Binary;
using System.Text;

namespace Mlx.Formats.Tests;

/// <summary>Shared helpers: fixture paths, temp files, and assertion of refusals.</summary>
internal static class TestUtil
{
    public static string Data(params string[] parts) => Path.Combine([AppContext.BaseDirectory, "data", .. parts]);

    public static string TempDir()
    {
        string dir = Path.Combine(Path.GetTempPath(), "mlx-formats-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }

    public static string WriteTemp(byte[] bytes, string extension)
    {
        string path = Path.Combine(TempDir(), "f" + extension);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    /// <summary>Opens and fully reads every tensor (raw and converted), the way a loader would.</summary>
    public static void OpenAndReadAll(string path, LoadLimits? limits = null)
    {
        using ModelFile file = ModelFile.Open(path, limits);
        foreach (TensorEntry t in file.Tensors)
        {
            if (t.ByteLength <= 1 << 24)
            {
                file.ReadRawBytes(t);
                if (t.DType is not null)
                {
                    file.ReadTensor(t);
                }
            }
        }
    }

    /// <summary>Asserts that opening (and reading) the bytes is refused with a reason containing <paramref name="expected"/>.</summary>
    public static ModelFormatException Refused(byte[] bytes, string extension, string expected, LoadLimits? limits = null)
    {
        string path = WriteTemp(bytes, extension);
        var e = Assert.Throws<ModelFormatException>(() => OpenAndReadAll(path, limits));
        Assert.Contains(expected, e.Message, StringComparison.OrdinalIgnoreCase);
        return e;
    }

    public static byte[] Concat(params byte[][] parts) => parts.SelectMany(p => p).ToArray();

    public static byte[] U64(ulong v)
    {
        var b = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, v);
        return b;
    }

    public static byte[] Ascii(string s) => Encoding.ASCII.GetBytes(s);

    /// <summary>A .npy file from a raw header dictionary text (padded to 64 like NumPy) and data.</summary>
    public static byte[] Npy(string dict, byte[] data, int major = 1)
    {
        int preamble = major == 1 ? 10 : 12;
        int total = (preamble + dict.Length + 1 + 63) / 64 * 64;
        string header = dict.PadRight(total - preamble - 1) + "\n";
        var b = new List<byte> { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', (byte)major, 0 };
        if (major == 1)
        {
            b.AddRange(BitConverter.GetBytes((ushort)header.Length));
        }
        else
        {
            b.AddRange(BitConverter.GetBytes((uint)header.Length));
        }
        b.AddRange(Encoding.UTF8.GetBytes(header));
        b.AddRange(data);
        return b.ToArray();
    }

    /// <summary>A safetensors file from header JSON text and data (no padding).</summary>
    public static byte[] Safetensors(string json, byte[] data) =>
        Concat(U64((ulong)Encoding.UTF8.GetByteCount(json)), Encoding.UTF8.GetBytes(json), data);
}

/// <summary>Builds raw GGUF bytes field by field, so malformed files can be made precisely.</summary>
internal sealed class GgufBuilder
{
    private readonly MemoryStream _s = new();

    public GgufBuilder Header(uint version, ulong tensors, ulong kvs)
    {
        Raw("GGUF"u8.ToArray()).U32(version).U64(tensors).U64(kvs);
        return this;
    }

    public GgufBuilder Raw(byte[] b)
    {
        _s.Write(b);
        return this;
    }

    public GgufBuilder U8(byte v) => Raw([v]);

    public GgufBuilder U32(uint v) => Raw(BitConverter.GetBytes(v));

    public GgufBuilder I32(int v) => Raw(BitConverter.GetBytes(v));

    public GgufBuilder U64(ulong v) => Raw(BitConverter.GetBytes(v));

    public GgufBuilder I64(long v) => Raw(BitConverter.GetBytes(v));

    public GgufBuilder Str(string s)
    {
        byte[] b = Encoding.UTF8.GetBytes(s);
        return U64((ulong)b.Length).Raw(b);
    }

    /// <summary>A string KV.</summary>
    public GgufBuilder KvString(string key, string value) => Str(key).U32(8).Str(value);

    /// <summary>A UINT32 KV.</summary>
    public GgufBuilder KvU32(string key, uint value) => Str(key).U32(4).U32(value);

    /// <summary>A tensor info with ne in ggml order.</summary>
    public GgufBuilder Tensor(string name, long[] ne, int type, ulong offset)
    {
        Str(name).U32((uint)ne.Length);
        foreach (long d in ne)
        {
            I64(d);
        }
        return I32(type).U64(offset);
    }

    /// <summary>Zero padding up to the alignment.</summary>
    public GgufBuilder Align(int alignment = 32)
    {
        while (_s.Length % alignment != 0)
        {
            _s.WriteByte(0);
        }
        return this;
    }

    public GgufBuilder Zeros(int n) => Raw(new byte[n]);

    public byte[] Build() => _s.ToArray();
}
