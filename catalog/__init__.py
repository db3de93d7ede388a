"""The points supermarket (积分超市) and the swap table (亲邻易物台). Arrives with later issues."""
