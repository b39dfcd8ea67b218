using System.Buffers.Binary;
using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using Mlx.Cli;
using Mlx.Formats.Trust;

namespace Mlx.Formats.Tests.Trust;

/// <summary>The child process used by isolation tests (a Formats-only host with the `mlx __load-child` entry).</summary>
internal static class Child
{
    public static readonly string Dll = Path.Combine(AppContext.BaseDirectory, "Mlx.Formats.Tests.ChildHost.dll");

    public static void Use() => IsolatedLoader.ChildCommand = [Environment.ProcessPath!.EndsWith("dotnet", StringComparison.Ordinal) ? Environment.ProcessPath! : "dotnet", Dll];
}

/// <summary>Isolation tests run alone, so that the parent's allocation count and the CPU timings are theirs.</summary>
[CollectionDefinition("isolation", DisableParallelization = true)]
public class IsolationCollection
{
}

/// <summary>Isolated loads: a child under memory/CPU/wall limits; the parent checks the stream strictly and keeps running.</summary>
[Collection("isolation")]
public class IsolationTests
{
    public IsolationTests() => Child.Use();

    private static readonly IsolationLimits Tight = new() { MaxMemoryBytes = 64L << 20, MaxCpuSeconds = 2, WallClock = TimeSpan.FromSeconds(20) };

    private static string Touch(string extension)
    {
        string path = Path.Combine(TestUtil.TempDir(), "f" + extension);
        File.WriteAllText(path, "x");
        return path;
    }

    [Fact]
    public void LoadsTheSameTensorsAsInProcess()
    {
        string path = TestUtil.Data("mlx", "st_mixed.safetensors");
        List<TensorData> tensors = IsolatedLoader.Load(path, Tight);
        using ModelFile f = ModelFile.Open(path);
        Assert.Equal(f.Tensors.Select(t => t.Name), tensors.Select(t => t.Name));
        foreach (TensorData t in tensors)
        {
            Assert.True(f.TryGetTensor(t.Name, out TensorEntry e));
            Assert.Equal(e.DType, t.DType);
            Assert.Equal(e.Shape, t.Shape);
            Assert.Equal(f.ReadTensor(e), t.Data.ToArray());
        }
        List<TensorData> gguf = IsolatedLoader.Load(TestUtil.Data("mlx", "gguf_mixed.gguf"), Tight);
        Assert.Equal(7, gguf.Count);
    }

    [Fact]
    public void MalformedFileIsAnErrorInTheParent()
    {
        string path = TestUtil.WriteTemp([.. BitConverter.GetBytes(100L), .. "{\"a\":1}"u8], ".safetensors");
        var e = Assert.Throws<IsolatedLoadException>(() => IsolatedLoader.Load(path, Tight));
        Assert.Contains("refused the file", e.Message);
        Assert.Contains("safetensors", e.Message);
    }

    private static readonly Lazy<string> s_bomb = new(() =>
    {
        // A valid .npz whose one member inflates to 256 MiB of zeros from ~256 KiB: within the default LoadLimits,
        // so an in-process reader would allocate it all; the child's 64 MiB heap limit stops it.
        const long count = 64L << 20;
        string header = $"{{'descr': '<f4', 'fortran_order': False, 'shape': ({count},), }}";
        header = header.PadRight(((header.Length + 10 + 1 + 63) / 64 * 64) - 10 - 1) + "\n";
        byte[] npyHead = [0x93, .. "NUMPY"u8, 1, 0, (byte)header.Length, (byte)(header.Length >> 8), .. Encoding.ASCII.GetBytes(header)];
        long size = npyHead.Length + (count * 4);
        var compressed = new MemoryStream();
        uint crc = 0xFFFFFFFF;
        using (var deflate = new DeflateStream(compressed, CompressionLevel.Fastest, leaveOpen: true))
        {
            deflate.Write(npyHead);
            crc = Crc(crc, npyHead);
            byte[] zeros = new byte[1 << 20];
            for (long done = 0; done < count * 4; done += zeros.Length)
            {
                deflate.Write(zeros);
                crc = Crc(crc, zeros);
            }
        }
        crc ^= 0xFFFFFFFF;
        byte[] name = "a.npy"u8.ToArray();
        byte[] data = compressed.ToArray();
        var zip = new MemoryStream();
        var w = new BinaryWriter(zip);
        w.Write(0x04034b50u); w.Write((ushort)20); w.Write((ushort)0); w.Write((ushort)8); w.Write(0u);
        w.Write(crc); w.Write((uint)data.Length); w.Write((uint)size); w.Write((ushort)name.Length); w.Write((ushort)0); w.Write(name); w.Write(data);
        long cd = zip.Position;
        w.Write(0x02014b50u); w.Write((ushort)20); w.Write((ushort)20); w.Write((ushort)0); w.Write((ushort)8); w.Write(0u);
        w.Write(crc); w.Write((uint)data.Length); w.Write((uint)size); w.Write((ushort)name.Length); w.Write((ushort)0); w.Write((ushort)0);
        w.Write((ushort)0); w.Write((ushort)0); w.Write(0u); w.Write(0u); w.Write(name);
        long cdSize = zip.Position - cd;
        w.Write(0x06054b50u); w.Write((ushort)0); w.Write((ushort)0); w.Write((ushort)1); w.Write((ushort)1); w.Write((uint)cdSize); w.Write((uint)cd); w.Write((ushort)0);
        w.Flush();
        return TestUtil.WriteTemp(zip.ToArray(), ".npz");
    });

    private static readonly uint[] s_crcTable = Enumerable.Range(0, 256).Select(n =>
    {
        uint c = (uint)n;
        for (int k = 0; k < 8; k++)
        {
            c = (c & 1) != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1;
        }
        return c;
    }).ToArray();

    private static uint Crc(uint crc, ReadOnlySpan<byte> data)
    {
        foreach (byte b in data)
        {
            crc = s_crcTable[(crc ^ b) & 0xFF] ^ (crc >> 8);
        }
        return crc;
    }

    [Fact]
    public void DecompressionBombEndsAsAnErrorAndParentMemoryStaysFlat()
    {
        string bomb = s_bomb.Value;
        Assert.True(new FileInfo(bomb).Length < 8 << 20, $"bomb is {new FileInfo(bomb).Length} bytes");
        long before = GC.GetTotalAllocatedBytes(precise: true);
        var clock = Stopwatch.StartNew();
        var e = Assert.Throws<IsolatedLoadException>(() => IsolatedLoader.Load(bomb, Tight));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"took {clock.Elapsed}");
        long used = GC.GetTotalAllocatedBytes(precise: true) - before;
        Assert.True(used < 100L << 20, $"the parent allocated {used} bytes");
        Assert.Contains("memory", e.Message);
    }

    [Fact]
    public void ChildThatAllocatesWithoutLimitIsStopped()
    {
        var e = Assert.Throws<IsolatedLoadException>(() => IsolatedLoader.Load(Touch(".allocate"), Tight));
        Assert.Contains("memory", e.Message);
    }

    [Fact]
    public void ChildThatLoopsHitsTheCpuLimit()
    {
        var clock = Stopwatch.StartNew();
        var e = Assert.Throws<IsolatedLoadException>(() => IsolatedLoader.Load(Touch(".spin"), Tight));
        Assert.True(e.Message.Contains("CPU time limit", StringComparison.Ordinal), e.Message);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15), $"took {clock.Elapsed}");
    }

    [Fact]
    public void ChildThatHangsHitsTheWallClock()
    {
        var clock = Stopwatch.StartNew();
        var limits = new IsolationLimits { MaxMemoryBytes = 64L << 20, WallClock = TimeSpan.FromSeconds(2) };
        var e = Assert.Throws<IsolatedLoadException>(() => IsolatedLoader.Load(Touch(".sleep"), limits));
        Assert.Contains("wall-clock", e.Message);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"took {clock.Elapsed}");
    }

    [Theory]
    [InlineData(".garbage", "a tensor name of")]
    [InlineData(".lie", "the stream ended")]
    public void MalformedChildOutputIsRefused(string kind, string reason)
    {
        var e = Assert.Throws<IsolatedLoadException>(() => IsolatedLoader.Load(Touch(kind), Tight));
        Assert.Contains(reason, e.Message);
    }

    [Fact]
    public void FifoAndDevicesAreRefusedBeforeStartingAChild()
    {
        string dir = TestUtil.TempDir();
        TrustTestUtil.MkFifo(Path.Combine(dir, "p.npy"));
        Assert.Throws<PathRefusedException>(() => IsolatedLoader.Load(Path.Combine(dir, "p.npy"), Tight));
        Assert.Throws<PathRefusedException>(() => IsolatedLoader.Load("/dev/zero", Tight));
    }

    [Fact]
    public void InspectIsolatedUsesTheChild()
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        Assert.Equal(0, InspectCommand.Run(["--isolated", "--json", TestUtil.Data("mlx", "npy_float32_2x3.npy")], stdout, stderr));
        Assert.Contains("\"float32\"", stdout.ToString());
        stdout = new StringWriter();
        string bad = TestUtil.WriteTemp([.. BitConverter.GetBytes(100L), .. "{\"a\":1}"u8], ".safetensors");
        Assert.Equal(3, InspectCommand.Run(["--isolated", bad], stdout, stderr));
        Assert.Equal("", stdout.ToString());
        Assert.Contains("isolated load failed", stderr.ToString());
        Assert.Equal(5, InspectCommand.Run(["--isolated", "/dev/zero"], stdout, new StringWriter()));
        Assert.DoesNotContain("   at ", stderr.ToString());
    }

    [Fact]
    public void StreamParserRefusesAnyMalformedInput()
    {
        var random = new Random(7);
        byte[] good = Good();
        Assert.Single(IsolatedLoader.ParseStream(new MemoryStream(good), LoadLimits.Default));
        for (int i = 0; i < 2000; i++)
        {
            byte[] bad = (byte[])good.Clone();
            int flips = random.Next(1, 4);
            for (int k = 0; k < flips; k++)
            {
                bad[random.Next(bad.Length)] = (byte)random.Next(256);
            }
            int cut = random.Next(4) == 0 ? random.Next(bad.Length) : bad.Length;
            try
            {
                IsolatedLoader.ParseStream(new MemoryStream(bad, 0, cut), LoadLimits.Default);
            }
            catch (ModelFormatException)
            {
            }
        }
        Assert.Throws<ModelFormatException>(() => IsolatedLoader.ParseStream(new MemoryStream([.. good, 0]), LoadLimits.Default));
        Assert.Throws<ModelFormatException>(() => IsolatedLoader.ParseStream(new MemoryStream(good), new LoadLimits { MaxTotalTensorBytes = 4 }));
    }

    private static byte[] Good()
    {
        var m = new MemoryStream();
        m.Write("MLXISO1\nT"u8);
        m.Write(BitConverter.GetBytes(1));
        m.WriteByte((byte)'w');
        m.WriteByte((byte)TensorDType.Int16);
        m.WriteByte(2);
        m.Write(BitConverter.GetBytes(2L));
        m.Write(BitConverter.GetBytes(3L));
        m.Write(BitConverter.GetBytes(12L));
        m.Write(new byte[12]);
        m.WriteByte((byte)'E');
        m.Write(BitConverter.GetBytes(1));
        _ = BinaryPrimitives.ReverseEndianness(0);
        return m.ToArray();
    }
}
