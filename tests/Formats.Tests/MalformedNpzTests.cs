namespace Mlx.Formats.Tests;

/// <summary>Hostile .npz files (zip bombs, CRC mismatches, overlapping or colliding members) are refused.</summary>
public class MalformedNpzTests
{
    private static byte[] Npy(int floats = 2) =>
        TestUtil.Npy($"{{'descr': '<f4', 'fortran_order': False, 'shape': ({floats},), }}", new byte[4 * floats]);

    private static void Refused(ZipBuilder z, string expected, LoadLimits? limits = null) =>
        TestUtil.Refused(z.Build(), ".npz", expected, limits);

    [Fact]
    public void ValidBaselineOpens()
    {
        string path = TestUtil.WriteTemp(new ZipBuilder().Add("a.npy", Npy()).Add("b.npy", Npy(), method: 8).Build(), ".npz");
        using ModelFile file = ModelFile.Open(path);
        Assert.Equal(["a", "b"], file.Tensors.Select(t => t.Name));
    }

    [Fact]
    public void CrcMismatch()
    {
        Refused(new ZipBuilder().Add("a.npy", Npy(), crc: 1234), "CRC-32 mismatch");
        Refused(new ZipBuilder().Add("a.npy", Npy(), method: 8, crc: 1234), "CRC-32 mismatch");
        byte[] good = new ZipBuilder().Add("a.npy", Npy()).Build();
        good[30 + 5 + Npy().Length - 1] ^= 0xFF; // the last data byte of the stored member
        TestUtil.Refused(good, ".npz", "CRC-32 mismatch");
    }

    [Fact]
    public void ZipBombMemberInflatesPastItsDeclaredSize()
    {
        byte[] npy = Npy();
        byte[] bomb = ZipBuilder.Deflate([.. npy, .. new byte[50_000_000]]);
        Refused(new ZipBuilder().Add("a.npy", npy, method: 8, compressedOverride: bomb), "inflates past its declared size");
    }

    [Fact]
    public void DeclaredSizesOverTheLimits()
    {
        Refused(new ZipBuilder().Add("a.npy", Npy(), method: 8, declaredSize: 0xFFFFFFF0), "LoadLimits.MaxNpzMemberBytes",
            new LoadLimits { MaxNpzMemberBytes = 1 << 20 });
        Refused(new ZipBuilder().Add("a.npy", Npy()).Add("b.npy", Npy()), "LoadLimits.MaxNpzTotalBytes",
            new LoadLimits { MaxNpzTotalBytes = 150 });
        Refused(new ZipBuilder().Add("a.npy", Npy()).Add("b.npy", Npy()), "LoadLimits.MaxNpzMembers", new LoadLimits { MaxNpzMembers = 1 });
        // A header declaring a huge array inside a small member.
        Refused(new ZipBuilder().Add("a.npy", TestUtil.Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000000,), }", new byte[8])),
            "member 'a.npy': shape (1000000000000) of <f4 needs");
    }

    [Fact]
    public void SizesThatDisagree()
    {
        Refused(new ZipBuilder().Add("a.npy", Npy(), method: 8, declaredSize: Npy().Length + 100), "before its declared size");
        Refused(new ZipBuilder().Add("a.npy", Npy(), declaredSize: Npy().Length + 4), "different compressed and uncompressed sizes");
        Refused(new ZipBuilder().Add("a.npy", Npy(), compressedSizeOverride: 1 << 30, declaredSize: 1 << 30), "past the start of the central directory");
    }

    [Fact]
    public void Names()
    {
        Refused(new ZipBuilder().Add("a.npy", Npy()).Add("a.npy", Npy()), "duplicate member name");
        Refused(new ZipBuilder().Add("a.npy", Npy()).Add("a", Npy()), "collides with another member named 'a'");
        Refused(new ZipBuilder().Add("readme.txt", Npy()), "is not a .npy array");
        Refused(new ZipBuilder().Add("archive/data.pkl", [0x80, 0x02, 0x2E]), "a pickle is code");
    }

    [Fact]
    public void MethodsAndFlags()
    {
        Refused(new ZipBuilder().Add("a.npy", Npy(), method: 12), "compression method 12 is not supported");
        Refused(new ZipBuilder().Add("a.npy", Npy(), flags: 1), "is encrypted");
        Refused(new ZipBuilder().Add("a.npy", Npy(), method: 8, compressedOverride: [0xFF, 0xFF, 0xFF, 0xFF]), "member 'a.npy'");
    }

    [Fact]
    public void OverlappingMembers()
    {
        // b's central entry points into a's data region: the same bytes counted twice is the classic bomb trick.
        byte[] npy = Npy();
        var z = new ZipBuilder().Add("a.npy", npy).Add("b.npy", npy, localOffsetOverride: 0);
        Refused(z, "local header names a different file");
        byte[] bytes = new ZipBuilder().Add("a.npy", npy, compressedSizeOverride: npy.Length + 40, declaredSize: npy.Length + 40).Add("b.npy", npy).Build();
        TestUtil.Refused(bytes, ".npz", "overlap");
    }

    [Fact]
    public void CentralDirectoryOutOfRange()
    {
        TestUtil.Refused(new ZipBuilder().Add("a.npy", Npy()).Build(cdOffsetOverride: 0x7FFFFFFF), ".npz", "out of range");
        TestUtil.Refused(new ZipBuilder().Add("a.npy", Npy()).Build(countOverride: 60000), ".npz", "out of range");
        byte[] truncated = new ZipBuilder().Add("a.npy", Npy()).Build();
        TestUtil.Refused(truncated[..^10], ".npz", "end-of-central-directory");
    }

    [Fact]
    public void TruncatedEverywhereIsRefusedCleanly()
    {
        byte[] full = File.ReadAllBytes(TestUtil.Data("numpy_torch", "np_savez_deflate.npz"));
        for (int n = 0; n < full.Length; n += 5)
        {
            string path = TestUtil.WriteTemp(full[..n], ".npz");
            Assert.Throws<ModelFormatException>(() => TestUtil.OpenAndReadAll(path));
        }
    }
}
