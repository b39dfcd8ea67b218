using System.Security.Cryptography;
using Mlx.Formats.Trust;

namespace Mlx.Formats.Tests.Trust;

/// <summary>ModelFile.OpenPinned: the digest covers exactly the bytes parsed (a private copy), mismatches name the file and both digests.</summary>
public class DigestPinningTests
{
    private static (string Path, string Sha) File1()
    {
        string path = Path.Combine(TestUtil.TempDir(), "w.safetensors");
        SafetensorsWriter.Write(path, [new TensorData("w", TensorDType.Int32, [2], new byte[] { 1, 0, 0, 0, 2, 0, 0, 0 })]);
        return (path, Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path))));
    }

    [Fact]
    public void MatchingDigestOpens()
    {
        (string path, string sha) = File1();
        using ModelFile f = ModelFile.OpenPinned(path, sha.ToUpperInvariant());
        Assert.Equal(new byte[] { 1, 0, 0, 0, 2, 0, 0, 0 }, f.ReadTensor(f.Tensors[0]));
        using ModelFile g = ModelFile.OpenPinned(path, "sha256:" + sha);
        Assert.Equal(path, g.Path);
    }

    [Fact]
    public void MismatchNamesFileAndBothDigests()
    {
        (string path, string sha) = File1();
        string wrong = new('a', 64);
        var e = Assert.Throws<DigestMismatchException>(() => ModelFile.OpenPinned(path, wrong).Dispose());
        Assert.Equal((path, wrong, sha), (e.Path, e.Expected, e.Actual));
        Assert.Contains(path, e.Message);
        Assert.Contains(wrong, e.Message);
        Assert.Contains(sha, e.Message);
    }

    [Fact]
    public void MalformedDigestIsAnArgumentError()
    {
        (string path, _) = File1();
        Assert.Throws<ArgumentException>(() => ModelFile.OpenPinned(path, "1234").Dispose());
    }

    [Fact]
    public void ParsedBytesAreTheHashedBytesEvenIfTheFileChangesAfterwards()
    {
        (string path, string sha) = File1();
        using ModelFile f = ModelFile.OpenPinned(path, sha);
        // Rewrite the file in place (same size, other values): the pinned copy is unaffected.
        byte[] bytes = File.ReadAllBytes(path);
        bytes[^8] = 99;
        using (var s = new FileStream(path, FileMode.Open, FileAccess.Write))
        {
            s.Write(bytes);
        }
        Assert.Equal(1, f.ReadTensor(f.Tensors[0])[0]);
        Assert.Throws<DigestMismatchException>(() => ModelFile.OpenPinned(path, sha).Dispose());
    }

    [Fact]
    public void PrivateCopyLeavesNothingBehind()
    {
        (string path, string sha) = File1();
        int before = Directory.GetDirectories(Path.GetTempPath(), "mlx-private-*").Length;
        for (int i = 0; i < 20; i++)
        {
            using (ModelFile.OpenPinned(path, sha))
            {
            }
        }
        // The copies are anonymous (unlinked at once): no folder is left per open (other tests may hold one briefly).
        Assert.True(Directory.GetDirectories(Path.GetTempPath(), "mlx-private-*").Length <= before + 2);
    }

    [Fact]
    public void PinnedThroughRootRefusesLinksOut()
    {
        (string path, string sha) = File1();
        string dir = TestUtil.TempDir();
        File.CreateSymbolicLink(Path.Combine(dir, "w.safetensors"), path);
        Assert.Throws<PathRefusedException>(() => new ModelRoot(dir).OpenModelFilePinned("w.safetensors", sha).Dispose());
        File.Copy(path, Path.Combine(dir, "v.safetensors"));
        using ModelFile f = new ModelRoot(dir).OpenModelFilePinned("v.safetensors", sha);
        Assert.Single(f.Tensors);
    }
}
