using System.Diagnostics;
using Mlx.Formats.Trust;
using static Mlx.Formats.Tests.Trust.TrustTestUtil;

namespace Mlx.Formats.Tests.Trust;

/// <summary>ModelRoot: relative names only, links kept inside, regular files only (refused before opening), size limit; sharded safetensors through it.</summary>
public class PathTests
{
    private static PathRefusedException Refused(ModelRoot root, string name, string reason)
    {
        var clock = Stopwatch.StartNew();
        var e = Assert.Throws<PathRefusedException>(() => root.OpenRead(name, out _).Dispose());
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed}");
        Assert.Contains(reason, e.Message);
        Assert.Equal(name, e.Path);
        return e;
    }

    [Theory]
    [InlineData("..", "'..'")]
    [InlineData("../secret", "'..'")]
    [InlineData("sub/../../secret", "'..'")]
    [InlineData("/etc/passwd", "absolute")]
    [InlineData("\\\\server\\share", "absolute")]
    [InlineData("C:/Windows/win.ini", "absolute")]
    [InlineData("sub\\..\\x", "backslash")]
    [InlineData("", "empty")]
    [InlineData("a//b", "empty")]
    [InlineData("./a", "'.'")]
    [InlineData("a\0b", "NUL")]
    public void BadNamesAreRefused(string name, string reason)
    {
        var root = new ModelRoot(ModelFolder());
        Refused(root, name, reason);
    }

    [Fact]
    public void RegularFilesAndInsideLinksResolve()
    {
        string dir = ModelFolder();
        File.CreateSymbolicLink(Path.Combine(dir, "alias.json"), "config.json");
        Directory.CreateSymbolicLink(Path.Combine(dir, "tok"), "tokenizer");
        var root = new ModelRoot(dir);
        Assert.Equal("{\"hidden\": 4}", System.Text.Encoding.UTF8.GetString(root.ReadAllBytes("alias.json")));
        Assert.Equal(Path.Combine(root.FullPath, "tokenizer", "vocab.txt"), root.Resolve("tok/vocab.txt"));
        using ModelFile f = root.OpenModelFile("model.safetensors");
        Assert.Single(f.Tensors);
    }

    [Fact]
    public void SymlinkEscapeToFileIsRefused()
    {
        string dir = ModelFolder();
        string secret = Path.Combine(TestUtil.TempDir(), "secret.safetensors");
        File.Copy(Path.Combine(dir, "model.safetensors"), secret);
        File.CreateSymbolicLink(Path.Combine(dir, "link.safetensors"), secret);
        File.CreateSymbolicLink(Path.Combine(dir, "rel.safetensors"), "../../" + Path.GetFileName(Path.GetDirectoryName(secret)!) + "/secret.safetensors");
        var root = new ModelRoot(dir);
        Refused(root, "link.safetensors", "outside the model folder");
        Refused(root, "rel.safetensors", "outside the model folder");
    }

    [Fact]
    public void SymlinkEscapeThroughFolderIsRefused()
    {
        string dir = ModelFolder();
        string outside = TestUtil.TempDir();
        File.WriteAllText(Path.Combine(outside, "weights.npy"), "x");
        Directory.CreateSymbolicLink(Path.Combine(dir, "shared"), outside);
        Directory.CreateSymbolicLink(Path.Combine(dir, "etc"), "/etc");
        var root = new ModelRoot(dir);
        Refused(root, "shared/weights.npy", "outside the model folder");
        Refused(root, "etc/passwd", "outside the model folder");
    }

    [Fact]
    public void FolderSwappedForALinkAfterTheCheckIsRefused()
    {
        // What a race between ModelRoot.Resolve and the open would meet: the open itself refuses to follow a link.
        string dir = ModelFolder();
        var root = new ModelRoot(dir);
        using (SafeFile.OpenBeneath(root.FullPath, "tokenizer/vocab.txt", 1 << 20, out long length))
        {
            Assert.Equal(4, length);
        }
        string outside = TestUtil.TempDir();
        File.WriteAllText(Path.Combine(outside, "vocab.txt"), "evil");
        Directory.Move(Path.Combine(dir, "tokenizer"), Path.Combine(dir, "tokenizer.old"));
        Directory.CreateSymbolicLink(Path.Combine(dir, "tokenizer"), outside);
        Assert.Throws<PathRefusedException>(() => SafeFile.OpenBeneath(root.FullPath, "tokenizer/vocab.txt", 1 << 20, out _).Dispose());
        Assert.Throws<PathRefusedException>(() => SafeFile.OpenBeneath(root.FullPath, "../" + Path.GetFileName(outside) + "/vocab.txt", 1 << 20, out _).Dispose());
        Assert.Throws<PathRefusedException>(() => root.OpenRead("tokenizer/vocab.txt", out _).Dispose());
    }

    [Fact]
    public void DevZeroIsRefusedBeforeOpening()
    {
        Refused(new ModelRoot("/dev"), "zero", "a character device");
        // A link to it from inside a model folder leads out anyway.
        string dir = ModelFolder();
        File.CreateSymbolicLink(Path.Combine(dir, "zero.npy"), "/dev/zero");
        Refused(new ModelRoot(dir), "zero.npy", "outside");
        // And the path-level reader refuses the device itself.
        var e = Assert.Throws<PathRefusedException>(() => ModelRoot.ReadRegularFile("/dev/zero"));
        Assert.Contains("character device", e.Reason);
    }

    [Fact]
    public void FifoIsRefusedWithoutBlocking()
    {
        string dir = ModelFolder();
        MkFifo(Path.Combine(dir, "pipe.safetensors"));
        var root = new ModelRoot(dir);
        Refused(root, "pipe.safetensors", "FIFO");
        Assert.Throws<PathRefusedException>(() => root.OpenModelFile("pipe.safetensors").Dispose());
        Assert.Throws<PathRefusedException>(() => ModelFile.OpenPinned(Path.Combine(dir, "pipe.safetensors"), new string('0', 64)).Dispose());
    }

    [Fact]
    public void PlainOpenRefusesSpecialFilesWithoutBlocking()
    {
        string dir = TestUtil.TempDir();
        MkFifo(Path.Combine(dir, "p.npy"));
        File.CreateSymbolicLink(Path.Combine(dir, "z.npy"), "/dev/zero");
        foreach ((string path, string kind) in new[] { (Path.Combine(dir, "p.npy"), "FIFO"), ("/dev/zero", "character device"), (Path.Combine(dir, "z.npy"), "character device"), (dir, "a folder") })
        {
            var clock = Stopwatch.StartNew();
            var e = Assert.Throws<ModelFormatException>(() => ModelFile.Open(path).Dispose());
            Assert.Contains(kind, e.Message);
            Assert.Throws<ModelFormatException>(() => ModelFile.Detect(path));
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5));
        }
    }

    [Fact]
    public void FolderAndMissingFileAreRefused()
    {
        var root = new ModelRoot(ModelFolder());
        Refused(root, "tokenizer", "a folder");
        Refused(root, "nope.npy", "does not exist");
        Assert.Throws<PathRefusedException>(() => new ModelRoot(Path.Combine(root.FullPath, "config.json")));
    }

    [Fact]
    public void SizeLimitIsEnforced()
    {
        var root = new ModelRoot(ModelFolder(), maxFileBytes: 10);
        Refused(root, "model.safetensors", "over the limit of 10");
        Assert.Equal(4, root.ReadAllBytes("tokenizer/vocab.txt").Length);
    }

    private static string ShardedFolder(string indexJson)
    {
        string dir = TestUtil.TempDir();
        SafetensorsWriter.Write(Path.Combine(dir, "model-00001-of-00002.safetensors"), [new TensorData("a", TensorDType.Float32, [1], new byte[4])]);
        SafetensorsWriter.Write(Path.Combine(dir, "model-00002-of-00002.safetensors"), [new TensorData("b", TensorDType.Int8, [2], new byte[2])]);
        File.WriteAllText(Path.Combine(dir, "model.safetensors.index.json"), indexJson);
        return dir;
    }

    [Fact]
    public void ShardedSafetensorsLoadsThroughTheRoot()
    {
        string dir = ShardedFolder("{\"metadata\":{\"total_size\":6},\"weight_map\":{\"a\":\"model-00001-of-00002.safetensors\",\"b\":\"model-00002-of-00002.safetensors\"}}");
        using ShardedSafetensors s = ShardedSafetensors.Open(new ModelRoot(dir));
        Assert.Equal(2, s.Shards.Count);
        Assert.Equal(["a", "b"], s.Shards.SelectMany(f => f.Tensors).Select(t => t.Name));
    }

    [Theory]
    [InlineData("../model-00001-of-00002.safetensors", "'..'")]
    [InlineData("/etc/passwd", "absolute")]
    [InlineData("sub/model.safetensors", "separator")]
    [InlineData("..", "'..'")]
    public void ShardNamesMustBePlainFileNames(string shard, string reason)
    {
        string dir = ShardedFolder($"{{\"weight_map\":{{\"a\":\"model-00001-of-00002.safetensors\",\"b\":\"{shard}\"}}}}");
        var e = Assert.Throws<PathRefusedException>(() => ShardedSafetensors.Open(new ModelRoot(dir)).Dispose());
        Assert.Contains(reason, e.Message);
    }

    [Theory]
    [InlineData("{\"weight_map\":{\"b\":\"model-00001-of-00002.safetensors\"}}", "does not assign")]
    [InlineData("{\"weight_map\":{\"a\":\"model-00001-of-00002.safetensors\",\"b\":\"model-00001-of-00002.safetensors\"}}", "does not hold")]
    [InlineData("{\"weight_map\":{\"a\":1}}", "not a string")]
    [InlineData("{\"weight_map\":{\"a\":\"x.safetensors\",\"a\":\"y.safetensors\"}}", "not valid JSON")]
    [InlineData("[]", "weight_map")]
    [InlineData("{\"weight_map\":{\"a\":\"config.json\"}}", "not a .safetensors")]
    public void MalformedIndexIsRefused(string index, string reason)
    {
        string dir = ShardedFolder(index);
        var e = Assert.Throws<ModelFormatException>(() => ShardedSafetensors.Open(new ModelRoot(dir)).Dispose());
        Assert.Contains(reason, e.Message);
    }

    [Fact]
    public void ShardThatIsALinkOutIsRefused()
    {
        string dir = ShardedFolder("{\"weight_map\":{\"a\":\"model-00001-of-00002.safetensors\",\"b\":\"model-00002-of-00002.safetensors\"}}");
        string outside = Path.Combine(TestUtil.TempDir(), "x.safetensors");
        File.Move(Path.Combine(dir, "model-00002-of-00002.safetensors"), outside);
        File.CreateSymbolicLink(Path.Combine(dir, "model-00002-of-00002.safetensors"), outside);
        var e = Assert.Throws<PathRefusedException>(() => ShardedSafetensors.Open(new ModelRoot(dir)).Dispose());
        Assert.Contains("outside", e.Message);
    }
}
