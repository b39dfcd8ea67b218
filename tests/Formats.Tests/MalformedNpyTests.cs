using System.Buffers.Binary;

namespace Mlx.Formats.Tests;

/// <summary>Hostile .npy files (CVE-2025-62608 class and friends) are refused with the right reason.</summary>
public class MalformedNpyTests
{
    private static readonly byte[] Eight = new byte[8];

    private static void Refused(string dict, byte[] data, string expected, LoadLimits? limits = null) =>
        TestUtil.Refused(TestUtil.Npy(dict, data), ".npy", expected, limits);

    private static string Dict(string descr = "'<f4'", string fortran = "False", string shape = "(2,)") =>
        $"{{'descr': {descr}, 'fortran_order': {fortran}, 'shape': {shape}, }}";

    [Fact]
    public void HeaderLengthPastEndOfFile()
    {
        byte[] bytes = TestUtil.Npy(Dict(), Eight)[..20];
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(8), 5000);
        TestUtil.Refused(bytes, ".npy", "runs past the end");
    }

    [Fact]
    public void HeaderOverTheLimit()
    {
        byte[] bytes = TestUtil.Npy(Dict(), Eight, major: 2);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(8), 0xFFFFFFF0);
        TestUtil.Refused(bytes, ".npy", "over the limit of 10000");
        TestUtil.Refused(TestUtil.Npy(Dict(shape: "(2," + string.Concat(Enumerable.Repeat(" ", 200)) + ")"), Eight), ".npy",
            "over the limit", new LoadLimits { MaxNpyHeaderBytes = 100 });
    }

    [Fact]
    public void HugeShapesAndOverflowingProducts()
    {
        Refused(Dict(shape: "(1000000000, 1000000000, 1000000000)"), Eight, "overflows");
        Refused(Dict(shape: "(9223372036854775807,)"), Eight, "overflows");
        Refused(Dict(shape: "(1099511627776,)"), Eight, "needs 4398046511104 bytes but only 8 follow");
        Refused(Dict(shape: "(99999999999999999999,)"), Eight, "does not fit in 64 bits");
        Refused(Dict(shape: "(-2,)"), Eight, "non-negative");
        Refused(Dict(shape: "(" + string.Concat(Enumerable.Repeat("1, ", 17)) + ")"), new byte[4], "rank 17 is over the limit");
    }

    [Fact]
    public void TruncatedAndTrailingData()
    {
        Refused(Dict(shape: "(3,)"), Eight, "needs 12 bytes but only 8");
        Refused(Dict(shape: "(1,)"), Eight, "4 trailing bytes");
    }

    [Theory]
    [InlineData("'|O'")]
    [InlineData("'|O8'")]
    [InlineData("'<O'")]
    [InlineData("[('a', '<f4'), ('b', '|O')]")]
    [InlineData("[('a', [('inner', 'O')])]")]
    public void ObjectDTypesAreRefusedAsPickles(string descr)
    {
        Refused(Dict(descr: descr), Eight, "a pickle is code, and it is never loaded");
    }

    [Theory]
    [InlineData("'<c16'", "unsupported dtype")]
    [InlineData("'<U10'", "unsupported dtype")]
    [InlineData("'>V2'", "unsupported dtype")]
    [InlineData("'<M8[ns]'", "unsupported dtype")]
    [InlineData("[('a', '<f4')]", "structured")]
    [InlineData("3", "'descr' must be a string")]
    public void UnsupportedDTypes(string descr, string expected)
    {
        Refused(Dict(descr: descr), Eight, expected);
    }

    [Theory]
    [InlineData("{'descr': '<f4', 'fortran_order': False}", "exactly the keys")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1}", "exactly the keys")]
    [InlineData("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}", "duplicate key 'descr'")]
    [InlineData("{'descr': __import__('os').system('id'), 'fortran_order': False, 'shape': (2,)}", "unexpected character")]
    [InlineData("{'descr': '<f4', 'fortran_order': 1, 'shape': (2,)}", "True or False")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': [2]}", "must be a tuple")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (2)}", "must be a tuple")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (2.0,)}", "expected ')'")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} junk", "unexpected text")]
    [InlineData("{'descr': '<f4, 'fortran_order': False, 'shape': (2,)}", "bad .npy header")]
    [InlineData("['descr']", "not a dictionary")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': ((((((((((2,),),),),),),),),),)}", "nested too deeply")]
    [InlineData("{'descr': '<f\\x34', 'fortran_order': False, 'shape': (2,)}", "unsupported escape")]
    public void HeaderSyntaxIsParsedNeverEvaluated(string dict, string expected)
    {
        Refused(dict, Eight, expected);
    }

    [Fact]
    public void BadMagicAndVersion()
    {
        byte[] bytes = TestUtil.Npy(Dict(), Eight);
        bytes[6] = 4;
        TestUtil.Refused(bytes, ".npy", "unsupported .npy version 4.0");
        bytes = TestUtil.Npy(Dict(), Eight);
        bytes[5] = (byte)'X';
        TestUtil.Refused(bytes, ".npy", "not a recognised model file");
        TestUtil.Refused([0x93, (byte)'N'], ".npy", "not a recognised model file");
        TestUtil.Refused([], ".npy", "not a recognised model file");
    }

    [Fact]
    public void TruncatedPreambleOfVersion2()
    {
        byte[] bytes = TestUtil.Npy(Dict(), Eight, major: 2)[..11];
        TestUtil.Refused(bytes, ".npy", "preamble");
    }

    [Fact]
    public void ShapesAsMlxAndNumpyWriteThem()
    {
        foreach (string shape in new[] { "(2, )", "(2,)", "(1, 2, )", "(1, 2)", "( 2 , )" })
        {
            string path = TestUtil.WriteTemp(TestUtil.Npy(Dict(shape: shape), Eight), ".npy");
            using ModelFile file = ModelFile.Open(path);
            Assert.Equal(2, file.Tensors[0].ElementCount);
        }
        string scalar = TestUtil.WriteTemp(TestUtil.Npy(Dict(shape: "()"), new byte[4]), ".npy");
        using ModelFile s = ModelFile.Open(scalar);
        Assert.Empty(s.Tensors[0].Shape);
    }
}
