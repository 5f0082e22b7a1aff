// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.0;

/// @title KinkoToken: a minimal ERC-20 for kinko's tests and demo.
/// @notice kinko deploys it on a development chain to stand for a token such as XEM
/// (6 decimals) in a replay of the 2018 Coincheck theft. It is a plain ERC-20 (EIP-20):
/// the whole supply is minted to the deployer, nothing can be minted or burnt later, and a
/// transfer or transferFrom beyond the balance or the allowance reverts (so it emits no
/// Transfer event). Solidity ^0.8 checks arithmetic, so no SafeMath is needed.
contract KinkoToken {
    string public name;
    string public symbol;
    uint8 public immutable decimals;
    uint256 public totalSupply;

    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);

    constructor(string memory name_, string memory symbol_, uint8 decimals_, uint256 supply) {
        name = name_;
        symbol = symbol_;
        decimals = decimals_;
        totalSupply = supply;
        balanceOf[msg.sender] = supply;
        emit Transfer(address(0), msg.sender, supply);
    }

    function transfer(address to, uint256 value) external returns (bool) {
        _move(msg.sender, to, value);
        return true;
    }

    function approve(address spender, uint256 value) external returns (bool) {
        allowance[msg.sender][spender] = value;
        emit Approval(msg.sender, spender, value);
        return true;
    }

    function transferFrom(address from, address to, uint256 value) external returns (bool) {
        uint256 allowed = allowance[from][msg.sender];
        require(allowed >= value, "KinkoToken: insufficient allowance");
        if (allowed != type(uint256).max) {
            // an allowance of 2**256-1 is "unlimited" by convention and is not spent
            allowance[from][msg.sender] = allowed - value;
        }
        _move(from, to, value);
        return true;
    }

    function _move(address from, address to, uint256 value) private {
        require(to != address(0), "KinkoToken: transfer to the zero address");
        uint256 held = balanceOf[from];
        require(held >= value, "KinkoToken: insufficient balance");
        unchecked {
            // held >= value, and the total supply bounds every balance, so neither overflows
            balanceOf[from] = held - value;
            balanceOf[to] += value;
        }
        emit Transfer(from, to, value);
    }
}
