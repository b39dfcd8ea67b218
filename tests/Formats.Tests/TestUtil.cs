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
    /// <remarks>Also asserts the refusal came fast and without large allocations (no trusting declared sizes).</remarks>
    public static ModelFormatException Refused(byte[] bytes, string extension, string expected, LoadLimits? limits = null)
    {
        string path = WriteTemp(bytes, extension);
        long allocated = GC.GetAllocatedBytesForCurrentThread();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var e = Assert.Throws<ModelFormatException>(() => OpenAndReadAll(path, limits));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"refusal took {clock.Elapsed}");
        long used = GC.GetAllocatedBytesForCurrentThread() - allocated;
        Assert.True(used < 64L << 20, $"refusal allocated {used} bytes");
        Assert.Contains(expected, e.Message, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("   at ", e.Message);
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

/// <summary>Builds zip files member by member, with every size, CRC and offset overridable.</summary>
internal sealed class ZipBuilder
{
    private readonly MemoryStream _body = new();
    private readonly MemoryStream _central = new();
    private int _count;

    /// <summary>Adds a member; <paramref name="content"/> is the uncompressed bytes.</summary>
    public ZipBuilder Add(string name, byte[] content, ushort method = 0, long? declaredSize = null, uint? crc = null,
        ushort flags = 0, byte[]? compressedOverride = null, long? localOffsetOverride = null, long? compressedSizeOverride = null)
    {
        byte[] payload = compressedOverride ?? (method == 8 ? Deflate(content) : content);
        byte[] nameBytes = Encoding.UTF8.GetBytes(name);
        uint c = crc ?? Crc(content);
        long usize = declaredSize ?? content.Length;
        long csize = compressedSizeOverride ?? payload.Length;
        long offset = _body.Position;
        var w = new BinaryWriter(_body);
        w.Write(0x04034b50u); w.Write((ushort)20); w.Write(flags); w.Write(method); w.Write(0u);
        w.Write(c); w.Write((uint)csize); w.Write((uint)usize); w.Write((ushort)nameBytes.Length); w.Write((ushort)0);
        w.Write(nameBytes); w.Write(payload);
        var cw = new BinaryWriter(_central);
        cw.Write(0x02014b50u); cw.Write((ushort)20); cw.Write((ushort)20); cw.Write(flags); cw.Write(method); cw.Write(0u);
        cw.Write(c); cw.Write((uint)csize); cw.Write((uint)usize); cw.Write((ushort)nameBytes.Length); cw.Write((ushort)0);
        cw.Write((ushort)0); cw.Write((ushort)0); cw.Write((ushort)0); cw.Write(0u); cw.Write((uint)(localOffsetOverride ?? offset));
        cw.Write(nameBytes);
        _count++;
        return this;
    }

    public byte[] Build(int? countOverride = null, long? cdOffsetOverride = null)
    {
        var result = new MemoryStream();
        result.Write(_body.ToArray());
        long cdOffset = result.Position;
        result.Write(_central.ToArray());
        var w = new BinaryWriter(result);
        w.Write(0x06054b50u); w.Write((ushort)0); w.Write((ushort)0);
        w.Write((ushort)(countOverride ?? _count)); w.Write((ushort)(countOverride ?? _count));
        w.Write((uint)_central.Length); w.Write((uint)(cdOffsetOverride ?? cdOffset)); w.Write((ushort)0);
        return result.ToArray();
    }

    public static byte[] Deflate(byte[] content)
    {
        var ms = new MemoryStream();
        using (var d = new System.IO.Compression.DeflateStream(ms, System.IO.Compression.CompressionLevel.Optimal, leaveOpen: true))
        {
            d.Write(content);
        }
        return ms.ToArray();
    }

    public static uint Crc(byte[] content) => Mlx.Formats.Internal.Crc32.Compute(content);
}
