using System.Diagnostics;

namespace Mlx.Formats.Tests;

/// <summary>
/// Random mutations of valid files never produce anything but <see cref="ModelFormatException"/>, and a file
/// that changes underneath an open <see cref="ModelFile"/> gives an error rather than a crash.
/// </summary>
public class RobustnessTests
{
    public static TheoryData<string, string> Seeds() => new()
    {
        { "mlx/st_mixed.safetensors", ".safetensors" },
        { "mlx/gguf_mixed.gguf", ".gguf" },
        { "mlx/npy_float32_2x3x4.npy", ".npy" },
        { "numpy_torch/np_fortran_i4_3x4.npy", ".npy" },
        { "numpy_torch/np_savez_stored.npz", ".npz" },
        { "numpy_torch/np_savez_deflate.npz", ".npz" },
    };

    [Theory]
    [MemberData(nameof(Seeds))]
    public void RandomMutationsOnlyEverRefuse(string fixture, string extension)
    {
        byte[] original = File.ReadAllBytes(TestUtil.Data(fixture.Split('/')));
        string path = Path.Combine(TestUtil.TempDir(), "m" + extension);
        var random = new Random(fixture.Length * 7919 + original.Length);
        var clock = Stopwatch.StartNew();
        int runs = 0;
        while (clock.Elapsed < TimeSpan.FromSeconds(1.5) || runs < 200)
        {
            byte[] mutated = Mutate(original, random);
            File.WriteAllBytes(path, mutated);
            try
            {
                TestUtil.OpenAndReadAll(path);
            }
            catch (ModelFormatException)
            {
            }
            catch (Exception e)
            {
                File.WriteAllBytes(path + ".crash", mutated);
                Assert.Fail($"run {runs}: {e.GetType().Name}: {e.Message} (input saved to {path}.crash)");
            }
            runs++;
        }
    }

    private static byte[] Mutate(byte[] original, Random random)
    {
        var data = new List<byte>(original);
        int edits = 1 + random.Next(4);
        for (int e = 0; e < edits && data.Count > 0; e++)
        {
            int at = random.Next(data.Count);
            switch (random.Next(7))
            {
                case 0:
                    data[at] ^= (byte)(1 << random.Next(8));
                    break;
                case 1:
                    data[at] = (byte)random.Next(256);
                    break;
                case 2:
                    // An extreme little-endian integer where a length or count may be.
                    ulong[] extremes = [0, 1, 0x7F, 0xFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, long.MaxValue, ulong.MaxValue, 1UL << 40];
                    byte[] v = BitConverter.GetBytes(extremes[random.Next(extremes.Length)]);
                    for (int i = 0; i < v.Length && at + i < data.Count; i++)
                    {
                        data[at + i] = v[i];
                    }
                    break;
                case 3:
                    data.RemoveRange(at, Math.Min(data.Count - at, 1 + random.Next(16)));
                    break;
                case 4:
                    data.InsertRange(at, Enumerable.Range(0, 1 + random.Next(16)).Select(_ => (byte)random.Next(256)));
                    break;
                case 5:
                    data.RemoveRange(at, data.Count - at);
                    break;
                default:
                    data[at] = (byte)"{}[](),:'\"0123456789-"[random.Next(21)];
                    break;
            }
        }
        return data.ToArray();
    }

    [Theory]
    [InlineData("mlx/st_mixed.safetensors", ".safetensors")]
    [InlineData("mlx/gguf_mixed.gguf", ".gguf")]
    [InlineData("numpy_torch/np_savez_deflate.npz", ".npz")]
    public void FileChangingUnderneathIsAnErrorNotACrash(string fixture, string extension)
    {
        string path = Path.Combine(TestUtil.TempDir(), "c" + extension);
        byte[] original = File.ReadAllBytes(TestUtil.Data(fixture.Split('/')));
        File.WriteAllBytes(path, original);
        using ModelFile file = ModelFile.Open(path);
        using (var writer = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite))
        {
            writer.SetLength(original.Length / 2);
        }
        var e = Assert.Throws<ModelFormatException>(() => file.ReadRawBytes(file.Tensors[^1]));
        Assert.Contains("changed", e.Message);
    }

    [Fact]
    public void DeflatedMemberRewrittenInPlaceIsCaughtOnRead()
    {
        var data = Enumerable.Range(0, 4000).Select(i => (byte)(i * i)).ToArray();
        string path = Path.Combine(TestUtil.TempDir(), "c.npz");
        NpzWriter.Write(path, [new TensorData("a", TensorDType.UInt8, [4000], data)], compress: true);
        using ModelFile file = ModelFile.Open(path);
        TensorEntry t = file.Tensors[0];
        Assert.NotNull(t.Deflated);
        using (var writer = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite))
        {
            // Same length, different compressed bytes: the re-inflate fails or the CRC re-check notices.
            writer.Position = t.Deflated!.CompressedOffset + t.Deflated.CompressedSize / 2;
            writer.WriteByte(0x5A);
            writer.WriteByte(0xA5);
        }
        Assert.Throws<ModelFormatException>(() => file.ReadTensor(t));
    }

    [Fact]
    public void EntriesOfAnotherFileAreRejected()
    {
        using ModelFile a = ModelFile.Open(TestUtil.Data("mlx", "st_nometa.safetensors"));
        using ModelFile b = ModelFile.Open(TestUtil.Data("mlx", "st_nometa.safetensors"));
        Assert.Throws<ArgumentException>(() => a.ReadTensor(b.Tensors[0]));
    }
}
